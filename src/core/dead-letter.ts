import { type BasicProperties, encodeBasicProperties } from '../codec/basic-properties.js';
import { type FieldTable, type FieldValue, TypedFieldValue } from '../codec/field-table.js';
import { Message } from './message.js';

/** Why a message left a queue without being consumed, with RabbitMQ's reason names. */
export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

/**
 * The copy of `message` that goes to the dead-letter exchange: an x-death entry for (queue, reason) is added
 * or, if present, counted up and moved to the front; x-first-death-* are set once; a per-message expiration
 * moves into the entry as original-expiration so the copy does not expire again (RabbitMQ's rules).
 */
export function deadLetteredMessage(
  message: Message,
  queueName: string,
  reason: DeadLetterReason,
  deadLetterExchange: string,
  routingKey: string,
  now: number,
): Message {
  const props: BasicProperties = { ...message.decodedProperties };
  const headers: FieldTable = { ...props.headers };
  const deaths = Array.isArray(headers['x-death']) ? [...(headers['x-death'] as FieldValue[])] : [];
  const index = deaths.findIndex(
    (d) => isTable(d) && text(d.queue) === queueName && text(d.reason) === reason,
  );
  const time = new TypedFieldValue('timestamp', Math.floor(now / 1000));
  if (index >= 0) {
    const entry = { ...(deaths[index] as FieldTable) };
    entry.count = Number(entryCount(entry)) + 1;
    entry.time = time;
    deaths.splice(index, 1);
    deaths.unshift(entry);
  } else {
    const entry: FieldTable = {
      count: 1,
      reason,
      queue: queueName,
      time,
      exchange: message.exchange,
      'routing-keys': originalRoutingKeys(message),
    };
    if (props.expiration !== undefined) entry['original-expiration'] = props.expiration;
    deaths.unshift(entry);
  }
  headers['x-death'] = deaths;
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-reason'] = reason;
    headers['x-first-death-queue'] = queueName;
    headers['x-first-death-exchange'] = message.exchange;
  }
  props.headers = headers;
  delete props.expiration;
  return new Message(
    deadLetterExchange,
    routingKey,
    encodeBasicProperties(props),
    message.body,
    message.persistent,
    message.priority,
    -1,
    message.timestamp,
  );
}

/** The routing keys the message was published with: its key plus CC (BCC never survives routing). */
export function originalRoutingKeys(message: Message): string[] {
  const keys = [message.routingKey];
  const cc = message.hasHeaders ? message.headers?.CC : undefined;
  if (Array.isArray(cc)) for (const k of cc) if (typeof k === 'string') keys.push(k);
  return keys;
}

/**
 * RabbitMQ drops a dead-lettered copy headed back into a queue it already died in, unless a rejection
 * happened on the way (then a consumer is deciding, not an automatic loop).
 */
export function isDeadLetterCycle(deadLettered: Message, targetQueue: string): boolean {
  const deaths = deadLettered.headers?.['x-death'];
  if (!Array.isArray(deaths)) return false;
  for (const d of deaths) {
    if (!isTable(d)) continue;
    if (text(d.reason) === 'rejected') return false;
    if (text(d.queue) === targetQueue) return true;
  }
  return false;
}

function entryCount(entry: FieldTable): number {
  const c = entry.count;
  if (typeof c === 'number') return c;
  if (typeof c === 'bigint') return Number(c);
  if (c instanceof TypedFieldValue && typeof c.value !== 'object') return Number(c.value);
  return 0;
}

function isTable(v: FieldValue): v is FieldTable {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !Buffer.isBuffer(v) &&
    !(v instanceof TypedFieldValue)
  );
}

function text(v: FieldValue): string | undefined {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return undefined;
}
