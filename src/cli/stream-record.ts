/**
 * How `eventter stream tail` prints one stream message: a JSON line (--json) or a tab-separated text line.
 * AMQP field values have no JSON equivalent for some types, so they are mapped explicitly and the
 * mapping is documented in docs/streams.md.
 */
import type { BasicProperties } from '../codec/basic-properties.js';
import {
  type DecimalValue,
  type FieldTable,
  type FieldValue,
  TypedFieldValue,
} from '../codec/field-table.js';

export interface TailMessage {
  offset: number;
  exchange: string;
  routingKey: string;
  properties: BasicProperties;
  body: Buffer;
}

// ignoreBOM keeps a leading BOM in the text, so the printed body is byte for byte the message's.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** C0 controls except \t and \n, DEL, and C1 controls: a body holding them is shown as base64. */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/** The body as text when it is valid UTF-8 without control characters other than \n and \t, else null. */
export function bodyText(body: Buffer): string | null {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return null;
  }
  return hasControl(text) ? null : text;
}

/** The offset a stream delivery carries in its x-stream-offset header, or undefined. */
export function streamOffset(headers: FieldTable | undefined): number | undefined {
  const v = headers?.['x-stream-offset'];
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof TypedFieldValue && (typeof v.value === 'number' || typeof v.value === 'bigint'))
    return Number(v.value);
  return undefined;
}

function decimalText(d: DecimalValue): string {
  if (d.places === 0) return String(d.value);
  const digits = String(d.value).padStart(d.places + 1, '0');
  return `${digits.slice(0, -d.places)}.${digits.slice(-d.places)}`;
}

/**
 * A field value as JSON: integers as numbers (as strings beyond 2^53, to stay exact), timestamps as ISO-8601,
 * decimals as strings ("12.50"), byte arrays as {"bytesBase64": ...}, tables and arrays recursively.
 */
export function fieldValueToJson(v: FieldValue): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (Buffer.isBuffer(v)) return { bytesBase64: v.toString('base64') };
  if (v instanceof Date) return v.toISOString();
  if (v instanceof TypedFieldValue) {
    if (v.type === 'timestamp') return isoFromSeconds(Number(v.value));
    if (v.type === 'decimal') return decimalText(v.value as DecimalValue);
    return fieldValueToJson(v.value as number | bigint);
  }
  if (Array.isArray(v)) return v.map(fieldValueToJson);
  return tableToJson(v);
}

function tableToJson(table: FieldTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(table)) {
    // defineProperty: a "__proto__" header must stay data in the output object.
    Object.defineProperty(out, k, { value: fieldValueToJson(v), enumerable: true, writable: true });
  }
  return out;
}

/** An AMQP timestamp (seconds) as ISO-8601, or null when out of the Date range. */
function isoFromSeconds(seconds: number): string | null {
  const d = new Date(seconds * 1000);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** The message as one JSON line (no trailing newline). */
export function jsonRecord(m: TailMessage): string {
  const { headers, timestamp, ...rest } = m.properties;
  const userHeaders: FieldTable = { ...headers };
  delete userHeaders['x-stream-offset']; // printed as "offset"
  const record: Record<string, unknown> = {
    offset: m.offset,
    timestamp: timestamp === undefined ? null : isoFromSeconds(timestamp),
    exchange: m.exchange,
    routingKey: m.routingKey,
    properties: rest,
    headers: tableToJson(userHeaders),
  };
  const text = bodyText(m.body);
  if (text === null) record.bodyBase64 = m.body.toString('base64');
  else record.body = text;
  return JSON.stringify(record);
}

const escapeText = (s: string): string =>
  s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/\t/g, '\\t');

/** offset, timestamp, exchange, routing key, body: tab-separated, one line (\n \t \\ escaped). */
export function textRecord(m: TailMessage): string {
  const ts = m.properties.timestamp === undefined ? '-' : (isoFromSeconds(m.properties.timestamp) ?? '-');
  const text = bodyText(m.body);
  const body = text === null ? `base64:${m.body.toString('base64')}` : escapeText(text);
  return [m.offset, ts, escapeText(m.exchange || '-'), escapeText(m.routingKey || '-'), body].join('\t');
}
