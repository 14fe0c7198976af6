/**
 * Content-header properties of the AMQP `basic` class: a u16 property-flags word (bit 15 = first
 * property, bit 0 = "another flags word follows") and then the present properties in spec order.
 * The encoded bytes ("raw properties") are also what the store keeps, so single properties can be
 * read from them without a full decode.
 */
import { syntaxError } from './codec-error.js';
import { decodeFieldTable, type FieldTable, fieldTableByteLength, writeFieldTable } from './field-table.js';

export interface BasicProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: FieldTable;
  deliveryMode?: number;
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  expiration?: string;
  messageId?: string;
  /** Seconds since the epoch, as on the wire. */
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;
  clusterId?: string;
}

const F_CONTENT_TYPE = 0x8000;
const F_CONTENT_ENCODING = 0x4000;
const F_HEADERS = 0x2000;
const F_DELIVERY_MODE = 0x1000;
const F_PRIORITY = 0x0800;
const F_CORRELATION_ID = 0x0400;
const F_REPLY_TO = 0x0200;
const F_EXPIRATION = 0x0100;
const F_MESSAGE_ID = 0x0080;
const F_TIMESTAMP = 0x0040;
const F_TYPE = 0x0020;
const F_USER_ID = 0x0010;
const F_APP_ID = 0x0008;
const F_CLUSTER_ID = 0x0004;
const F_CONTINUATION = 0x0001;

/** Flags word + property list of a message without properties. */
export const EMPTY_RAW_PROPERTIES: Buffer = Buffer.from([0, 0]);

/** Bound on continuation flag words; basic defines 14 properties, so one word is all a client needs. */
const MAX_FLAG_WORDS = 4;

const TWO_32 = 0x1_0000_0000;

function shortstrLength(s: string, what: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  if (n > 255) throw syntaxError(`${what} longer than 255 bytes`);
  return n;
}

function checkOctet(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 255) throw syntaxError(`${what} must be an integer 0..255`);
}

function writeShortstr(buf: Buffer, offset: number, s: string): number {
  const n = buf.write(s, offset + 1, 'utf8');
  buf[offset] = n;
  return offset + 1 + n;
}

/** Encodes flags + property list. Throws CodecError 502 for unencodable values. */
export function encodeBasicProperties(p: BasicProperties): Buffer {
  let flags = 0;
  let size = 2;
  if (p.contentType != null) {
    flags |= F_CONTENT_TYPE;
    size += 1 + shortstrLength(p.contentType, 'content-type');
  }
  if (p.contentEncoding != null) {
    flags |= F_CONTENT_ENCODING;
    size += 1 + shortstrLength(p.contentEncoding, 'content-encoding');
  }
  if (p.headers != null) {
    flags |= F_HEADERS;
    size += fieldTableByteLength(p.headers);
  }
  if (p.deliveryMode != null) {
    checkOctet(p.deliveryMode, 'delivery-mode');
    flags |= F_DELIVERY_MODE;
    size += 1;
  }
  if (p.priority != null) {
    checkOctet(p.priority, 'priority');
    flags |= F_PRIORITY;
    size += 1;
  }
  if (p.correlationId != null) {
    flags |= F_CORRELATION_ID;
    size += 1 + shortstrLength(p.correlationId, 'correlation-id');
  }
  if (p.replyTo != null) {
    flags |= F_REPLY_TO;
    size += 1 + shortstrLength(p.replyTo, 'reply-to');
  }
  if (p.expiration != null) {
    flags |= F_EXPIRATION;
    size += 1 + shortstrLength(p.expiration, 'expiration');
  }
  if (p.messageId != null) {
    flags |= F_MESSAGE_ID;
    size += 1 + shortstrLength(p.messageId, 'message-id');
  }
  if (p.timestamp != null) {
    if (!Number.isSafeInteger(p.timestamp) || p.timestamp < 0) {
      throw syntaxError('timestamp must be a non-negative safe integer');
    }
    flags |= F_TIMESTAMP;
    size += 8;
  }
  if (p.type != null) {
    flags |= F_TYPE;
    size += 1 + shortstrLength(p.type, 'type');
  }
  if (p.userId != null) {
    flags |= F_USER_ID;
    size += 1 + shortstrLength(p.userId, 'user-id');
  }
  if (p.appId != null) {
    flags |= F_APP_ID;
    size += 1 + shortstrLength(p.appId, 'app-id');
  }
  if (p.clusterId != null) {
    flags |= F_CLUSTER_ID;
    size += 1 + shortstrLength(p.clusterId, 'cluster-id');
  }

  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt16BE(flags, 0);
  let o = 2;
  if (flags & F_CONTENT_TYPE) o = writeShortstr(buf, o, p.contentType!);
  if (flags & F_CONTENT_ENCODING) o = writeShortstr(buf, o, p.contentEncoding!);
  if (flags & F_HEADERS) o = writeFieldTable(buf, o, p.headers);
  if (flags & F_DELIVERY_MODE) buf[o++] = p.deliveryMode!;
  if (flags & F_PRIORITY) buf[o++] = p.priority!;
  if (flags & F_CORRELATION_ID) o = writeShortstr(buf, o, p.correlationId!);
  if (flags & F_REPLY_TO) o = writeShortstr(buf, o, p.replyTo!);
  if (flags & F_EXPIRATION) o = writeShortstr(buf, o, p.expiration!);
  if (flags & F_MESSAGE_ID) o = writeShortstr(buf, o, p.messageId!);
  if (flags & F_TIMESTAMP) {
    const ts = p.timestamp!;
    const hi = Math.floor(ts / TWO_32);
    buf.writeUInt32BE(hi, o);
    buf.writeUInt32BE(ts - hi * TWO_32, o + 4);
    o += 8;
  }
  if (flags & F_TYPE) o = writeShortstr(buf, o, p.type!);
  if (flags & F_USER_ID) o = writeShortstr(buf, o, p.userId!);
  if (flags & F_APP_ID) o = writeShortstr(buf, o, p.appId!);
  if (flags & F_CLUSTER_ID) o = writeShortstr(buf, o, p.clusterId!);
  return buf;
}

/** Reads the flags word(s) at `start`; returns the first word, sets `listStart` past the last. */
let listStart = 0;
function readFlags(buf: Buffer, start: number, end: number): number {
  if (start + 2 > end) throw syntaxError('content header properties truncated');
  const flags = buf.readUInt16BE(start);
  let o = start + 2;
  let word = flags;
  for (let n = 1; word & F_CONTINUATION; n++) {
    if (n >= MAX_FLAG_WORDS || o + 2 > end) throw syntaxError('bad property flags continuation');
    word = buf.readUInt16BE(o);
    o += 2;
  }
  listStart = o;
  return flags;
}

let cursor = 0;

function readShortstr(buf: Buffer, end: number): string {
  if (cursor >= end) throw syntaxError('content header properties truncated');
  const len = buf[cursor];
  const s = cursor + 1;
  if (s + len > end) throw syntaxError('content header properties truncated');
  cursor = s + len;
  return buf.toString('utf8', s, s + len);
}

function readOctet(buf: Buffer, end: number): number {
  if (cursor >= end) throw syntaxError('content header properties truncated');
  return buf[cursor++];
}

/**
 * Decodes flags + property list in buf[start, end). Unknown properties signalled by extra flag
 * words (none exist for basic) would follow the known ones and are ignored.
 */
export function decodeBasicProperties(buf: Buffer, start = 0, end: number = buf.length): BasicProperties {
  if (end > buf.length) end = buf.length;
  const flags = readFlags(buf, start, end);
  cursor = listStart;
  const p: BasicProperties = {};
  if (flags === 0) return p;
  if (flags & F_CONTENT_TYPE) p.contentType = readShortstr(buf, end);
  if (flags & F_CONTENT_ENCODING) p.contentEncoding = readShortstr(buf, end);
  if (flags & F_HEADERS) {
    const r = decodeFieldTable(buf, cursor, end);
    p.headers = r.table;
    cursor = r.offset;
  }
  if (flags & F_DELIVERY_MODE) p.deliveryMode = readOctet(buf, end);
  if (flags & F_PRIORITY) p.priority = readOctet(buf, end);
  if (flags & F_CORRELATION_ID) p.correlationId = readShortstr(buf, end);
  if (flags & F_REPLY_TO) p.replyTo = readShortstr(buf, end);
  if (flags & F_EXPIRATION) p.expiration = readShortstr(buf, end);
  if (flags & F_MESSAGE_ID) p.messageId = readShortstr(buf, end);
  if (flags & F_TIMESTAMP) {
    if (cursor + 8 > end) throw syntaxError('content header properties truncated');
    p.timestamp = buf.readUInt32BE(cursor) * TWO_32 + buf.readUInt32BE(cursor + 4);
    cursor += 8;
  }
  if (flags & F_TYPE) p.type = readShortstr(buf, end);
  if (flags & F_USER_ID) p.userId = readShortstr(buf, end);
  if (flags & F_APP_ID) p.appId = readShortstr(buf, end);
  if (flags & F_CLUSTER_ID) p.clusterId = readShortstr(buf, end);
  return p;
}

// ---------------------------------------------------------------------------------------------
// Single-property readers over raw properties (no object allocation).

/**
 * Offset of the property `target` in raw[start, end), or -1 when it is absent. Walks only the
 * properties that precede it; each is a shortstr, a table (u32 length) or an octet.
 */
function propertyOffset(raw: Buffer, start: number, end: number, target: number): number {
  const flags = readFlags(raw, start, end);
  if (!(flags & target)) return -1;
  let o = listStart;
  for (let bit = 0x8000; bit > target; bit >>>= 1) {
    if (!(flags & bit)) continue;
    if (bit === F_HEADERS) {
      if (o + 4 > end) throw syntaxError('content header properties truncated');
      o += 4 + raw.readUInt32BE(o);
    } else if (bit === F_DELIVERY_MODE || bit === F_PRIORITY) {
      o += 1;
    } else if (bit === F_TIMESTAMP) {
      o += 8;
    } else {
      if (o >= end) throw syntaxError('content header properties truncated');
      o += 1 + raw[o];
    }
  }
  if (o >= end) throw syntaxError('content header properties truncated');
  return o;
}

/** delivery-mode (2 = persistent), or 0 when absent. */
export function rawDeliveryMode(raw: Buffer, start = 0, end: number = raw.length): number {
  const o = propertyOffset(raw, start, end, F_DELIVERY_MODE);
  return o < 0 ? 0 : raw[o];
}

/** priority, or 0 when absent (AMQP's default priority). */
export function rawPriority(raw: Buffer, start = 0, end: number = raw.length): number {
  const o = propertyOffset(raw, start, end, F_PRIORITY);
  return o < 0 ? 0 : raw[o];
}

/** The expiration property (per-message TTL in ms, as a string), or undefined when absent. */
export function rawExpiration(raw: Buffer, start = 0, end: number = raw.length): string | undefined {
  const o = propertyOffset(raw, start, end, F_EXPIRATION);
  if (o < 0) return undefined;
  const len = raw[o];
  if (o + 1 + len > end) throw syntaxError('content header properties truncated');
  return raw.toString('utf8', o + 1, o + 1 + len);
}
