/**
 * AMQP 0-9-1 field tables and field arrays in RabbitMQ's dialect (the one every client speaks):
 * 's' is a signed 16-bit short (not a short string), 'l' a signed 64-bit long, 'x' a byte array.
 *
 * Encoding is two passes (exact size, then write into one allocation); decoding checks every
 * length against the end of the enclosing container and bounds nesting depth.
 */
import { syntaxError } from './codec-error.js';

/** Deepest nesting of tables/arrays accepted or produced; a bound against stack exhaustion. */
export const MAX_FIELD_TABLE_DEPTH = 16;

let maxDepth = MAX_FIELD_TABLE_DEPTH;

/** Sets the nesting bound for this process (the broker's `limits.maxHeaderTableDepth`). */
export function setMaxFieldTableDepth(depth: number): void {
  if (!Number.isInteger(depth) || depth < 1 || depth > 128)
    throw new RangeError(`bad field table depth ${depth}`);
  maxDepth = depth;
}

export type TypedFieldType =
  | 'timestamp'
  | 'decimal'
  | 'float'
  | 'double'
  | 'byte'
  | 'unsigned-byte'
  | 'short'
  | 'unsigned-short'
  | 'int'
  | 'unsigned-int'
  | 'long'
  | 'unsigned-long';

export interface DecimalValue {
  places: number;
  value: number;
}

/** A value whose exact wire type must survive a round trip (plain JS values pick a type themselves). */
export class TypedFieldValue {
  constructor(
    readonly type: TypedFieldType,
    readonly value: number | bigint | DecimalValue,
  ) {}
}

/** Encodable values; decoding yields no undefined (void decodes to null) and no Date ('T' is typed). */
export type FieldValue =
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | null
  | undefined
  | Date
  | FieldValue[]
  | FieldTable
  | TypedFieldValue;

export interface FieldTable {
  [key: string]: FieldValue;
}

// Wire type octets.
const T_BOOL = 0x74; // t
const T_INT8 = 0x62; // b
const T_UINT8 = 0x42; // B
const T_INT16_RABBIT = 0x73; // s (RabbitMQ: signed short)
const T_INT16 = 0x55; // U
const T_UINT16 = 0x75; // u
const T_INT32 = 0x49; // I
const T_UINT32 = 0x69; // i
const T_INT64 = 0x6c; // l
const T_UINT64 = 0x4c; // L
const T_FLOAT = 0x66; // f
const T_DOUBLE = 0x64; // d
const T_DECIMAL = 0x44; // D
const T_LONGSTR = 0x53; // S
const T_ARRAY = 0x41; // A
const T_TIMESTAMP = 0x54; // T
const T_TABLE = 0x46; // F
const T_VOID = 0x56; // V
const T_BYTES = 0x78; // x

const TWO_32 = 0x1_0000_0000;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

const TYPE_TAGS: Record<TypedFieldType, number> = {
  timestamp: T_TIMESTAMP,
  decimal: T_DECIMAL,
  float: T_FLOAT,
  double: T_DOUBLE,
  byte: T_INT8,
  'unsigned-byte': T_UINT8,
  short: T_INT16_RABBIT,
  'unsigned-short': T_UINT16,
  int: T_INT32,
  'unsigned-int': T_UINT32,
  long: T_INT64,
  'unsigned-long': T_UINT64,
};

// ---------------------------------------------------------------------------------------------
// Encoding

/** Wire type a value is encoded with; validates the value as a side effect. */
function tagOf(v: FieldValue): number {
  switch (typeof v) {
    case 'boolean':
      return T_BOOL;
    case 'number':
      if (Number.isInteger(v) && !Object.is(v, -0)) {
        if (v >= INT32_MIN && v <= INT32_MAX) return T_INT32;
        if (Number.isSafeInteger(v)) return T_INT64;
      }
      return T_DOUBLE;
    case 'bigint':
      if (v < INT64_MIN || v > INT64_MAX) throw syntaxError('bigint field value out of int64 range');
      return T_INT64;
    case 'string':
      return T_LONGSTR;
    case 'undefined':
      return T_VOID;
    case 'object': {
      if (v === null) return T_VOID;
      if (v instanceof TypedFieldValue) return typedTag(v);
      if (v instanceof Uint8Array) return T_BYTES;
      if (Array.isArray(v)) return T_ARRAY;
      if (v instanceof Date) return T_TIMESTAMP;
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) throw syntaxError('unsupported field value object');
      return T_TABLE;
    }
    default:
      throw syntaxError(`unsupported field value type ${typeof v}`);
  }
}

function typedTag(v: TypedFieldValue): number {
  const tag = TYPE_TAGS[v.type];
  if (tag === undefined) throw syntaxError(`unknown typed field type ${String(v.type)}`);
  const x = v.value;
  if (tag === T_DECIMAL) {
    const d = x as DecimalValue;
    if (typeof d !== 'object' || !isIntIn(d.places, 0, 255) || !isIntIn(d.value, 0, 0xffff_ffff)) {
      throw syntaxError('decimal needs places 0..255 and value 0..2^32-1');
    }
    return tag;
  }
  if (tag === T_FLOAT || tag === T_DOUBLE) {
    if (typeof x !== 'number') throw syntaxError(`${v.type} value must be a number`);
    return tag;
  }
  const ok =
    tag === T_INT8
      ? isIntIn(x, -128, 127)
      : tag === T_UINT8
        ? isIntIn(x, 0, 255)
        : tag === T_INT16_RABBIT
          ? isIntIn(x, -0x8000, 0x7fff)
          : tag === T_UINT16
            ? isIntIn(x, 0, 0xffff)
            : tag === T_INT32
              ? isIntIn(x, INT32_MIN, INT32_MAX)
              : tag === T_UINT32
                ? isIntIn(x, 0, 0xffff_ffff)
                : tag === T_INT64
                  ? isBigIn(x, INT64_MIN, INT64_MAX)
                  : isBigIn(x, 0n, UINT64_MAX); // unsigned-long, timestamp
  if (!ok) throw syntaxError(`${v.type} value out of range`);
  return tag;
}

function isIntIn(x: unknown, min: number, max: number): boolean {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
}

function isBigIn(x: unknown, min: bigint, max: bigint): boolean {
  if (typeof x === 'number') return Number.isSafeInteger(x) && BigInt(x) >= min && BigInt(x) <= max;
  return typeof x === 'bigint' && x >= min && x <= max;
}

function checkDepth(depth: number): void {
  if (depth > maxDepth) throw syntaxError(`field table nesting deeper than ${maxDepth}`);
}

/** Bytes a field value takes after its type octet. */
function valueByteLength(tag: number, v: FieldValue, depth: number): number {
  switch (tag) {
    case T_BOOL:
    case T_INT8:
    case T_UINT8:
      return 1;
    case T_INT16_RABBIT:
    case T_UINT16:
      return 2;
    case T_INT32:
    case T_UINT32:
    case T_FLOAT:
      return 4;
    case T_DECIMAL:
      return 5;
    case T_INT64:
    case T_UINT64:
    case T_DOUBLE:
    case T_TIMESTAMP:
      return 8;
    case T_VOID:
      return 0;
    case T_LONGSTR:
      return 4 + Buffer.byteLength(v as string, 'utf8');
    case T_BYTES:
      return 4 + (v as Uint8Array).length;
    case T_ARRAY:
      return arrayByteLength(v as FieldValue[], depth + 1);
    default:
      return tableByteLength(v as FieldTable, depth + 1);
  }
}

function arrayByteLength(arr: FieldValue[], depth: number): number {
  checkDepth(depth);
  let n = 4;
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    n += 1 + valueByteLength(tagOf(v), v, depth);
  }
  return n;
}

function tableByteLength(table: FieldTable, depth: number): number {
  checkDepth(depth);
  let n = 4;
  for (const key in table) {
    if (!Object.hasOwn(table, key)) continue;
    const keyLen = Buffer.byteLength(key, 'utf8');
    if (keyLen > 255) throw syntaxError('field table key longer than 255 bytes');
    const v = table[key];
    n += 1 + keyLen + 1 + valueByteLength(tagOf(v), v, depth);
  }
  if (n - 4 > 0xffff_ffff) throw syntaxError('field table too large');
  return n;
}

/** Encoded size of a field table including its 4-byte length prefix. */
export function fieldTableByteLength(table: FieldTable | undefined): number {
  return table === undefined ? 4 : tableByteLength(table, 1);
}

/** Encoded size of a field array including its 4-byte length prefix. */
export function fieldArrayByteLength(arr: FieldValue[]): number {
  return arrayByteLength(arr, 1);
}

function writeInt64(buf: Buffer, v: number | bigint, offset: number): void {
  if (typeof v === 'bigint') buf.writeBigInt64BE(v, offset);
  else writeSafeInt64(buf, v, offset);
}

/** Two's-complement int64 of a safe integer without going through bigint. */
function writeSafeInt64(buf: Buffer, v: number, offset: number): void {
  const hi = Math.floor(v / TWO_32);
  buf.writeInt32BE(hi, offset);
  buf.writeUInt32BE(v - hi * TWO_32, offset + 4);
}

function writeValue(buf: Buffer, offset: number, tag: number, v: FieldValue): number {
  buf[offset++] = tag;
  switch (tag) {
    case T_BOOL:
      buf[offset] = v ? 1 : 0;
      return offset + 1;
    case T_VOID:
      return offset;
    case T_LONGSTR: {
      const n = buf.write(v as string, offset + 4, 'utf8');
      buf.writeUInt32BE(n, offset);
      return offset + 4 + n;
    }
    case T_BYTES: {
      const bytes = v as Uint8Array;
      buf.writeUInt32BE(bytes.length, offset);
      buf.set(bytes, offset + 4);
      return offset + 4 + bytes.length;
    }
    case T_ARRAY:
      return writeArray(buf, offset, v as FieldValue[]);
    case T_TABLE:
      return writeTable(buf, offset, v as FieldTable);
    case T_DOUBLE:
      buf.writeDoubleBE(v instanceof TypedFieldValue ? (v.value as number) : (v as number), offset);
      return offset + 8;
    case T_INT32:
      buf.writeInt32BE(v instanceof TypedFieldValue ? (v.value as number) : (v as number), offset);
      return offset + 4;
    case T_INT64:
      writeInt64(
        buf,
        v instanceof TypedFieldValue ? (v.value as number | bigint) : (v as number | bigint),
        offset,
      );
      return offset + 8;
    case T_TIMESTAMP: {
      if (v instanceof Date) writeSafeInt64(buf, Math.floor(v.getTime() / 1000), offset);
      else writeUInt64(buf, (v as TypedFieldValue).value as number | bigint, offset);
      return offset + 8;
    }
  }
  // The remaining tags only come from TypedFieldValue.
  const x = (v as TypedFieldValue).value;
  switch (tag) {
    case T_INT8:
      buf.writeInt8(x as number, offset);
      return offset + 1;
    case T_UINT8:
      buf[offset] = x as number;
      return offset + 1;
    case T_INT16_RABBIT:
      buf.writeInt16BE(x as number, offset);
      return offset + 2;
    case T_UINT16:
      buf.writeUInt16BE(x as number, offset);
      return offset + 2;
    case T_UINT32:
      buf.writeUInt32BE(x as number, offset);
      return offset + 4;
    case T_FLOAT:
      buf.writeFloatBE(x as number, offset);
      return offset + 4;
    case T_UINT64:
      writeUInt64(buf, x as number | bigint, offset);
      return offset + 8;
    default: {
      const d = x as DecimalValue;
      buf[offset] = d.places;
      buf.writeUInt32BE(d.value, offset + 1);
      return offset + 5;
    }
  }
}

function writeUInt64(buf: Buffer, v: number | bigint, offset: number): void {
  if (typeof v === 'bigint') buf.writeBigUInt64BE(v, offset);
  else writeSafeInt64(buf, v, offset);
}

function writeArray(buf: Buffer, offset: number, arr: FieldValue[]): number {
  const start = offset;
  offset += 4;
  for (let i = 0; i < arr.length; i++) {
    const v = arr[i];
    offset = writeValue(buf, offset, tagOf(v), v);
  }
  buf.writeUInt32BE(offset - start - 4, start);
  return offset;
}

function writeTable(buf: Buffer, offset: number, table: FieldTable): number {
  const start = offset;
  offset += 4;
  for (const key in table) {
    if (!Object.hasOwn(table, key)) continue;
    const keyLen = buf.write(key, offset + 1, 'utf8');
    buf[offset] = keyLen;
    offset += 1 + keyLen;
    const v = table[key];
    offset = writeValue(buf, offset, tagOf(v), v);
  }
  buf.writeUInt32BE(offset - start - 4, start);
  return offset;
}

/**
 * Writes a table (with length prefix) at `offset`; the caller sized `buf` with
 * fieldTableByteLength, which also validated every value. Returns the offset after it.
 */
export function writeFieldTable(buf: Buffer, offset: number, table: FieldTable | undefined): number {
  if (table === undefined) {
    buf.writeUInt32BE(0, offset);
    return offset + 4;
  }
  return writeTable(buf, offset, table);
}

/** Encodes a table with its u32 length prefix. */
export function encodeFieldTable(table: FieldTable | undefined): Buffer {
  const buf = Buffer.allocUnsafe(fieldTableByteLength(table));
  writeFieldTable(buf, 0, table);
  return buf;
}

/** Encodes a field array with its u32 length prefix. */
export function encodeFieldArray(arr: FieldValue[]): Buffer {
  const buf = Buffer.allocUnsafe(fieldArrayByteLength(arr));
  writeArray(buf, 0, arr);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Decoding. `pos` is the read cursor shared by the recursive readers (decoding never yields).

let pos = 0;

function need(n: number, end: number): void {
  if (pos + n > end) throw syntaxError('field table truncated');
}

function readInt64(buf: Buffer): number | bigint {
  const hi = buf.readInt32BE(pos);
  const lo = buf.readUInt32BE(pos + 4);
  // |hi| < 2^21 keeps the value inside Number's safe integer range.
  if (hi >= -0x20_0000 && hi < 0x20_0000) {
    const v = hi * TWO_32 + lo;
    if (v !== -0x20_0000_0000_0000) return v; // -2^53 is exact but not a safe integer
  }
  return buf.readBigInt64BE(pos);
}

function readUInt64(buf: Buffer): number | bigint {
  const hi = buf.readUInt32BE(pos);
  if (hi < 0x20_0000) return hi * TWO_32 + buf.readUInt32BE(pos + 4);
  return buf.readBigUInt64BE(pos);
}

function readValue(buf: Buffer, end: number, depth: number): FieldValue {
  need(1, end);
  const tag = buf[pos++];
  let v: FieldValue;
  switch (tag) {
    case T_BOOL:
      need(1, end);
      return buf[pos++] !== 0;
    case T_INT8:
      need(1, end);
      v = buf.readInt8(pos);
      pos += 1;
      return v;
    case T_UINT8:
      need(1, end);
      return buf[pos++];
    case T_INT16_RABBIT:
    case T_INT16:
      need(2, end);
      v = buf.readInt16BE(pos);
      pos += 2;
      return v;
    case T_UINT16:
      need(2, end);
      v = buf.readUInt16BE(pos);
      pos += 2;
      return v;
    case T_INT32:
      need(4, end);
      v = buf.readInt32BE(pos);
      pos += 4;
      return v;
    case T_UINT32:
      need(4, end);
      v = buf.readUInt32BE(pos);
      pos += 4;
      return v;
    case T_INT64:
      need(8, end);
      v = readInt64(buf);
      pos += 8;
      return v;
    case T_UINT64:
      need(8, end);
      v = readUInt64(buf);
      pos += 8;
      return v;
    case T_FLOAT:
      need(4, end);
      v = new TypedFieldValue('float', buf.readFloatBE(pos));
      pos += 4;
      return v;
    case T_DOUBLE:
      need(8, end);
      v = buf.readDoubleBE(pos);
      pos += 8;
      // A double the encoder would write back as an integer stays typed, so it round-trips as a double.
      return Number.isSafeInteger(v) && !Object.is(v, -0) ? new TypedFieldValue('double', v) : v;
    case T_DECIMAL:
      need(5, end);
      v = new TypedFieldValue('decimal', { places: buf[pos], value: buf.readUInt32BE(pos + 1) });
      pos += 5;
      return v;
    case T_TIMESTAMP:
      need(8, end);
      v = new TypedFieldValue('timestamp', readUInt64(buf));
      pos += 8;
      return v;
    case T_LONGSTR: {
      need(4, end);
      const len = buf.readUInt32BE(pos);
      pos += 4;
      need(len, end);
      v = buf.toString('utf8', pos, pos + len);
      pos += len;
      return v;
    }
    case T_BYTES: {
      need(4, end);
      const len = buf.readUInt32BE(pos);
      pos += 4;
      need(len, end);
      // Copy: the source is usually a socket chunk we must not pin.
      v = Buffer.from(buf.subarray(pos, pos + len));
      pos += len;
      return v;
    }
    case T_VOID:
      return null;
    case T_ARRAY:
      return readArray(buf, end, depth + 1);
    case T_TABLE:
      return readTable(buf, end, depth + 1);
    default:
      throw syntaxError(`unknown field value type 0x${tag.toString(16)}`);
  }
}

function readArray(buf: Buffer, end: number, depth: number): FieldValue[] {
  checkDepth(depth);
  need(4, end);
  const len = buf.readUInt32BE(pos);
  pos += 4;
  need(len, end);
  const arrEnd = pos + len;
  const arr: FieldValue[] = [];
  while (pos < arrEnd) arr.push(readValue(buf, arrEnd, depth));
  return arr;
}

function readTable(buf: Buffer, end: number, depth: number): FieldTable {
  checkDepth(depth);
  need(4, end);
  const len = buf.readUInt32BE(pos);
  pos += 4;
  need(len, end);
  const tableEnd = pos + len;
  const table: FieldTable = {};
  while (pos < tableEnd) {
    const keyLen = buf[pos++];
    need(keyLen, tableEnd);
    const key = buf.toString('utf8', pos, pos + keyLen);
    pos += keyLen;
    const value = readValue(buf, tableEnd, depth);
    // A '__proto__' key must become data, never the object's prototype.
    if (key === '__proto__') {
      Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
    } else {
      table[key] = value;
    }
  }
  return table;
}

/**
 * Decodes the table (with u32 length prefix) at `offset`; nothing past `end` is read.
 * Throws CodecError 502 (SYNTAX_ERROR) on malformed input.
 */
export function decodeFieldTable(
  buf: Buffer,
  offset: number,
  end: number = buf.length,
): { table: FieldTable; offset: number } {
  if (end > buf.length) end = buf.length;
  pos = offset;
  const table = readTable(buf, end, 1);
  return { table, offset: pos };
}

/** Decodes the field array (with u32 length prefix) at `offset`. */
export function decodeFieldArray(
  buf: Buffer,
  offset: number,
  end: number = buf.length,
): { array: FieldValue[]; offset: number } {
  if (end > buf.length) end = buf.length;
  pos = offset;
  const array = readArray(buf, end, 1);
  return { array, offset: pos };
}
