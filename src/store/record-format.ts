/**
 * The framed record stored in segment files. All integers are big-endian.
 *
 *   u32 length of the rest (everything after this field)
 *   u32 CRC32C of everything after the crc field
 *   u64 offset | u64 timestamp (ms) | u8 flags | u64 expiresAt (ms, 0 = none)
 *   u8 priority | shortstr exchange | shortstr routing key | u32 properties length | properties | body
 *
 * u64 fields hold non-negative safe integers (< 2^53) so they stay plain JS numbers.
 * flags: bit0 persistent; bit1 follows a gap (the offsets between the previous record and this one were
 * taken by transient messages kept only in memory, so a reader must not take their absence for damage).
 */
import { crc32c } from './crc32c.js';

export interface LogRecord {
  offset: number;
  timestamp: number;
  persistent: boolean;
  expiresAt: number;
  priority: number;
  exchange: string;
  routingKey: string;
  properties: Buffer;
  body: Buffer;
}

export type NewRecord = Omit<LogRecord, 'offset'>;

/** Bytes of a record with empty strings, properties and body. */
export const RECORD_MIN_BYTES = 40;
/** Hard upper bound of one encoded record; anything larger on disk is treated as corruption. */
export const RECORD_MAX_BYTES = 256 * 1024 * 1024;

const FLAG_PERSISTENT = 1;
const FLAG_AFTER_GAP = 2;
const TWO_32 = 0x1_0000_0000;

export class RecordFormatError extends Error {
  override name = 'RecordFormatError';
}

/** Result codes of checkRecord besides a positive size. */
export const RECORD_INCOMPLETE = 0;
export const RECORD_CORRUPT = -1;

function writeU64(buf: Buffer, v: number, pos: number): void {
  const hi = Math.floor(v / TWO_32);
  buf.writeUInt32BE(hi, pos);
  buf.writeUInt32BE(v - hi * TWO_32, pos + 4);
}

function readU64(buf: Buffer, pos: number): number {
  return buf.readUInt32BE(pos) * TWO_32 + buf.readUInt32BE(pos + 4);
}

function checkU64(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RecordFormatError(`${name} must be a non-negative safe integer`);
}

/** Encoded size of rec; validates every field so that encodeRecord cannot fail afterwards. */
export function encodedRecordSize(rec: NewRecord): number {
  const exLen = Buffer.byteLength(rec.exchange, 'utf8');
  const rkLen = Buffer.byteLength(rec.routingKey, 'utf8');
  if (exLen > 255) throw new RecordFormatError('exchange name longer than 255 bytes');
  if (rkLen > 255) throw new RecordFormatError('routing key longer than 255 bytes');
  checkU64('timestamp', rec.timestamp);
  checkU64('expiresAt', rec.expiresAt);
  if (!Number.isInteger(rec.priority) || rec.priority < 0 || rec.priority > 255) {
    throw new RecordFormatError('priority must be an integer 0..255');
  }
  const size = RECORD_MIN_BYTES + exLen + rkLen + rec.properties.length + rec.body.length;
  if (size > RECORD_MAX_BYTES) throw new RecordFormatError(`record larger than ${RECORD_MAX_BYTES} bytes`);
  return size;
}

/** Encodes rec with the given offset at buf[pos]; returns the position after it. Call encodedRecordSize first. */
export function encodeRecord(
  rec: NewRecord,
  offset: number,
  buf: Buffer,
  pos: number,
  afterGap = false,
): number {
  const start = pos;
  pos += 8;
  writeU64(buf, offset, pos);
  writeU64(buf, rec.timestamp, pos + 8);
  buf[pos + 16] = (rec.persistent ? FLAG_PERSISTENT : 0) | (afterGap ? FLAG_AFTER_GAP : 0);
  writeU64(buf, rec.expiresAt, pos + 17);
  buf[pos + 25] = rec.priority;
  pos += 26;
  const exLen = buf.write(rec.exchange, pos + 1, 'utf8');
  buf[pos] = exLen;
  pos += 1 + exLen;
  const rkLen = buf.write(rec.routingKey, pos + 1, 'utf8');
  buf[pos] = rkLen;
  pos += 1 + rkLen;
  buf.writeUInt32BE(rec.properties.length, pos);
  pos += 4;
  pos += rec.properties.copy(buf, pos);
  pos += rec.body.copy(buf, pos);
  buf.writeUInt32BE(pos - start - 4, start);
  buf.writeUInt32BE(crc32c(buf, start + 8, pos), start + 4);
  return pos;
}

/** Encodes rec into a fresh buffer (convenience for tests and cold paths). */
export function encodeRecordToBuffer(rec: NewRecord, offset: number): Buffer {
  const buf = Buffer.allocUnsafe(encodedRecordSize(rec));
  encodeRecord(rec, offset, buf, 0);
  return buf;
}

/**
 * Validates the record at buf[pos, end): returns its total size when complete and intact,
 * RECORD_INCOMPLETE when more bytes are needed, RECORD_CORRUPT when it can never be valid.
 */
export function checkRecord(buf: Buffer, pos: number, end: number): number {
  if (end - pos < 4) return RECORD_INCOMPLETE;
  const total = buf.readUInt32BE(pos) + 4;
  if (total < RECORD_MIN_BYTES || total > RECORD_MAX_BYTES) return RECORD_CORRUPT;
  if (end - pos < total) return RECORD_INCOMPLETE;
  if (crc32c(buf, pos + 8, pos + total) !== buf.readUInt32BE(pos + 4)) return RECORD_CORRUPT;
  // The CRC matched, but a bad encoder could still produce inconsistent inner lengths.
  const recEnd = pos + total;
  let p = pos + 34;
  p += 1 + buf[p];
  if (p >= recEnd) return RECORD_CORRUPT;
  p += 1 + buf[p];
  if (p + 4 > recEnd) return RECORD_CORRUPT;
  if (p + 4 + buf.readUInt32BE(p) > recEnd) return RECORD_CORRUPT;
  return total;
}

/** Offset of the (checked) record at buf[pos]. */
export function recordOffsetAt(buf: Buffer, pos: number): number {
  return readU64(buf, pos + 8);
}

/**
 * Whether the (checked) record at buf[pos] may stand where `expected` was due: it has that offset, or a
 * later one and says it follows a gap of reserved offsets.
 */
export function recordFitsAt(buf: Buffer, pos: number, expected: number): boolean {
  const offset = readU64(buf, pos + 8);
  return offset === expected || (offset > expected && (buf[pos + 24] & FLAG_AFTER_GAP) !== 0);
}

/** Timestamp of the (checked) record at buf[pos]. */
export function recordTimestampAt(buf: Buffer, pos: number): number {
  return readU64(buf, pos + 16);
}

/** Persistent flag of the (checked) record at buf[pos]. */
export function recordPersistentAt(buf: Buffer, pos: number): boolean {
  return (buf[pos + 24] & FLAG_PERSISTENT) !== 0;
}

/** expiresAt of the (checked) record at buf[pos]. */
export function recordExpiresAtAt(buf: Buffer, pos: number): number {
  return readU64(buf, pos + 25);
}

/** Priority of the (checked) record at buf[pos]. */
export function recordPriorityAt(buf: Buffer, pos: number): number {
  return buf[pos + 33];
}

/** Body length of the (checked) record of `size` bytes at buf[pos]. */
export function recordBodySizeAt(buf: Buffer, pos: number, size: number): number {
  let p = pos + 34;
  p += 1 + buf[p];
  p += 1 + buf[p];
  return pos + size - (p + 4 + buf.readUInt32BE(p));
}

/**
 * Decodes the record of `size` bytes at buf[pos] (already validated by checkRecord).
 * With copy=false, properties and body are views into buf (keeping it alive); copy=true detaches them.
 */
export function decodeRecord(buf: Buffer, pos: number, size: number, copy = false): LogRecord {
  const end = pos + size;
  const offset = readU64(buf, pos + 8);
  const timestamp = readU64(buf, pos + 16);
  const persistent = (buf[pos + 24] & FLAG_PERSISTENT) !== 0;
  const expiresAt = readU64(buf, pos + 25);
  const priority = buf[pos + 33];
  let p = pos + 34;
  const exLen = buf[p];
  const exchange = exLen === 0 ? '' : buf.toString('utf8', p + 1, p + 1 + exLen);
  p += 1 + exLen;
  const rkLen = buf[p];
  const routingKey = rkLen === 0 ? '' : buf.toString('utf8', p + 1, p + 1 + rkLen);
  p += 1 + rkLen;
  const propsLen = buf.readUInt32BE(p);
  p += 4;
  let properties = buf.subarray(p, p + propsLen);
  let body = buf.subarray(p + propsLen, end);
  if (copy) {
    properties = Buffer.from(properties);
    body = Buffer.from(body);
  }
  return { offset, timestamp, persistent, expiresAt, priority, exchange, routingKey, properties, body };
}
