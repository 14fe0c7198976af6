/**
 * The entry table of one queue segment: per record what a queue's recovery needs, its offset, body size,
 * expiresAt, priority and persistent flag, without the record itself. Built as records are appended (or
 * scanned), persisted with the sealed segment's index (segment-index-file.ts), so that a queue's start-up
 * reads a few bytes per record instead of every record.
 *
 * Each field is a column that holds one constant while every record agrees on it and becomes a typed array at
 * the first record that differs: a segment of persistent messages without TTL or priority and with bodies of
 * one size costs a few bytes in all, whatever its record count. The offset column holds, per record, how
 * many offsets were lost to damage before it (offset = base + index + lost): 0 throughout an intact segment.
 *
 * Encoded (the count, then each column in the order below):
 *   u32 count | per column: u8 mode (0 constant, 1 array) | constant: f64 big-endian
 *                                                          | array: count values, little-endian
 * Arrays are little-endian so that they load with one copy on the usual hosts (swapped on big-endian ones).
 */
import os from 'node:os';
import {
  recordBodySizeAt,
  recordExpiresAtAt,
  recordPersistentAt,
  recordPriorityAt,
} from './record-format.js';

type ColumnArray = Uint8Array | Uint32Array | Float64Array;
type ColumnArrayType = { new (length: number): ColumnArray; readonly BYTES_PER_ELEMENT: number };

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';
const MODE_CONSTANT = 0;
const MODE_ARRAY = 1;
const INITIAL_CAPACITY = 64;

/** One field of every record: a constant until two records differ, then an array. */
export class EntryColumn {
  constant = 0;
  values: ColumnArray | null = null;

  constructor(readonly type: ColumnArrayType) {}

  at(i: number): number {
    return this.values === null ? this.constant : this.values[i];
  }

  /** Sets the value of record i (records are set in order; i === the count so far). */
  set(i: number, v: number, capacity: number): void {
    if (this.values === null) {
      if (i === 0) this.constant = v;
      else if (v !== this.constant) {
        this.values = new this.type(capacity);
        this.values.fill(this.constant, 0, i);
        this.values[i] = v;
      }
      return;
    }
    if (this.values.length < capacity) this.grow(capacity);
    this.values[i] = v;
  }

  grow(capacity: number): void {
    if (this.values === null || this.values.length >= capacity) return;
    const bigger = new this.type(capacity);
    bigger.set(this.values);
    this.values = bigger;
  }

  encodedBytes(count: number): number {
    return 1 + (this.values === null ? 8 : count * this.type.BYTES_PER_ELEMENT);
  }

  encode(count: number, buf: Buffer, pos: number): number {
    if (this.values === null) {
      buf[pos] = MODE_CONSTANT;
      buf.writeDoubleBE(this.constant, pos + 1);
      return pos + 9;
    }
    buf[pos] = MODE_ARRAY;
    const bytes = count * this.type.BYTES_PER_ELEMENT;
    const raw = Buffer.from(this.values.buffer, this.values.byteOffset, bytes);
    raw.copy(buf, pos + 1);
    if (!LITTLE_ENDIAN_HOST) swapToLittleEndian(buf.subarray(pos + 1, pos + 1 + bytes), this.type);
    return pos + 1 + bytes;
  }

  /** Reads the column at buf[pos]; returns the position after it, or -1 if it does not fit before end. */
  decode(count: number, buf: Buffer, pos: number, end: number): number {
    if (pos >= end) return -1;
    const mode = buf[pos];
    if (mode === MODE_CONSTANT) {
      if (pos + 9 > end) return -1;
      this.constant = buf.readDoubleBE(pos + 1);
      this.values = null;
      return pos + 9;
    }
    const bytes = count * this.type.BYTES_PER_ELEMENT;
    if (mode !== MODE_ARRAY || pos + 1 + bytes > end) return -1;
    const values = new this.type(Math.max(count, 1));
    const target = Buffer.from(values.buffer, 0, bytes);
    buf.copy(target, 0, pos + 1, pos + 1 + bytes);
    if (!LITTLE_ENDIAN_HOST) swapToLittleEndian(target, this.type);
    this.values = values;
    return pos + 1 + bytes;
  }
}

/** Little-endian <-> host order (the same swap both ways). */
function swapToLittleEndian(bytes: Buffer, type: ColumnArrayType): void {
  if (type.BYTES_PER_ELEMENT === 4) bytes.swap32();
  else if (type.BYTES_PER_ELEMENT === 8) bytes.swap64();
}

export class SegmentEntries {
  count = 0;
  private capacity = 0;
  /** Offsets lost to damage before each record. */
  readonly lost = new EntryColumn(Uint32Array);
  readonly size = new EntryColumn(Uint32Array);
  readonly expiresAt = new EntryColumn(Float64Array);
  readonly priority = new EntryColumn(Uint8Array);
  readonly persistent = new EntryColumn(Uint8Array);

  constructor(readonly base: number) {}

  private get columns(): EntryColumn[] {
    return [this.lost, this.size, this.expiresAt, this.priority, this.persistent];
  }

  offsetAt(i: number): number {
    return this.base + i + this.lost.at(i);
  }

  /** Notes the next record of the segment (offsets ascending). */
  add(offset: number, bodySize: number, expiresAt: number, priority: number, persistent: boolean): void {
    const i = this.count;
    if (i >= this.capacity) {
      this.capacity = Math.max(INITIAL_CAPACITY, this.capacity * 2);
      for (const c of this.columns) c.grow(this.capacity);
    }
    this.lost.set(i, offset - this.base - i, this.capacity);
    this.size.set(i, bodySize, this.capacity);
    this.expiresAt.set(i, expiresAt, this.capacity);
    this.priority.set(i, priority, this.capacity);
    this.persistent.set(i, persistent ? 1 : 0, this.capacity);
    this.count = i + 1;
  }

  /** Notes the (checked) record of `size` bytes at buf[pos]. */
  addRecordAt(buf: Buffer, pos: number, size: number, offset: number): void {
    this.add(
      offset,
      recordBodySizeAt(buf, pos, size),
      recordExpiresAtAt(buf, pos),
      recordPriorityAt(buf, pos),
      recordPersistentAt(buf, pos),
    );
  }

  encodedBytes(): number {
    let n = 4;
    for (const c of this.columns) n += c.encodedBytes(this.count);
    return n;
  }

  encode(buf: Buffer, pos: number): number {
    buf.writeUInt32BE(this.count, pos);
    let p = pos + 4;
    for (const c of this.columns) p = c.encode(this.count, buf, p);
    return p;
  }

  /** The table encoded in buf[pos, end), or null if it is not exactly one well-formed table. */
  static decode(base: number, buf: Buffer, pos: number, end: number): SegmentEntries | null {
    if (end - pos < 4) return null;
    const entries = new SegmentEntries(base);
    const count = buf.readUInt32BE(pos);
    let p = pos + 4;
    for (const c of entries.columns) {
      p = c.decode(count, buf, p, end);
      if (p < 0) return null;
    }
    if (p !== end) return null;
    entries.count = count;
    entries.capacity = count;
    return entries;
  }
}
