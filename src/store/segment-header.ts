/**
 * The header every segment file starts with (format 2). All integers are big-endian.
 *
 *   bytes 0..4    magic "EVSG"
 *   bytes 4..6    u16 format version (2)
 *   bytes 6..8    u16 header length (20; records start here)
 *   bytes 8..16   u64 base offset (the file name's)
 *   bytes 16..20  u32 CRC32C of bytes 0..16
 *
 * The CRC sits at a fixed place and covers the fixed fields, so a later version can append fields (and a
 * longer header length) while every reader can still tell a damaged header from a newer one.
 * A 0.1.0 segment file has no header: it starts with its first record.
 */
import { crc32c } from './crc32c.js';
import { checkRecord, RECORD_MAX_BYTES, RECORD_MIN_BYTES, recordOffsetAt } from './record-format.js';

export const SEGMENT_MAGIC = Buffer.from('EVSG', 'latin1');
export const SEGMENT_FORMAT_VERSION = 2;
export const SEGMENT_HEADER_BYTES = 20;
const TWO_32 = 0x1_0000_0000;

/** What to do about a segment file this version cannot read; `eventter upgrade-data` converts 0.1.0 files. */
export class SegmentFormatError extends Error {
  override name = 'SegmentFormatError';
  constructor(
    message: string,
    readonly file: string,
    /** The file's format version: 1 for a 0.1.0 file without header. */
    readonly version: number,
  ) {
    super(message);
  }
}

export function encodeSegmentHeader(
  base: number,
  buf: Buffer = Buffer.allocUnsafe(SEGMENT_HEADER_BYTES),
  pos = 0,
) {
  SEGMENT_MAGIC.copy(buf, pos);
  buf.writeUInt16BE(SEGMENT_FORMAT_VERSION, pos + 4);
  buf.writeUInt16BE(SEGMENT_HEADER_BYTES, pos + 6);
  const hi = Math.floor(base / TWO_32);
  buf.writeUInt32BE(hi, pos + 8);
  buf.writeUInt32BE(base - hi * TWO_32, pos + 12);
  buf.writeUInt32BE(crc32c(buf, pos, pos + 16), pos + 16);
  return buf;
}

export type HeaderCheck =
  | { kind: 'ok'; dataStart: number }
  /** Unreadable (a flipped byte, a torn first write): records are looked for after a standard header. */
  | { kind: 'damaged'; reason: string }
  | { kind: 'v1' }
  | { kind: 'newer'; version: number };

/**
 * Classifies the first bytes of a segment file (`head` holds min(fileSize, RECORD_MAX_BYTES) bytes or at least
 * the first record, see headProbeBytes). A file that starts with an intact record whose offset is the base is a
 * 0.1.0 file; anything else without a valid header is damage.
 */
export function checkSegmentHeader(head: Buffer, base: number): HeaderCheck {
  if (head.length >= SEGMENT_HEADER_BYTES && head.subarray(0, 4).equals(SEGMENT_MAGIC)) {
    if (crc32c(head, 0, 16) !== head.readUInt32BE(16))
      return { kind: 'damaged', reason: 'header CRC mismatch' };
    const version = head.readUInt16BE(4);
    const length = head.readUInt16BE(6);
    if (version > SEGMENT_FORMAT_VERSION) return { kind: 'newer', version };
    if (version < SEGMENT_FORMAT_VERSION || length < SEGMENT_HEADER_BYTES)
      return { kind: 'damaged', reason: `impossible version ${version} / length ${length}` };
    const headerBase = head.readUInt32BE(8) * TWO_32 + head.readUInt32BE(12);
    if (headerBase !== base) return { kind: 'damaged', reason: `header names base ${headerBase}` };
    return { kind: 'ok', dataStart: length };
  }
  // Only a whole intact record proves a 0.1.0 file: a v2 header with a damaged magic can look like a length.
  if (checkRecord(head, 0, head.length) > 0 && recordOffsetAt(head, 0) === base) return { kind: 'v1' };
  return {
    kind: 'damaged',
    reason: head.length < SEGMENT_HEADER_BYTES ? 'file shorter than its header' : 'bad magic',
  };
}

/** Bytes to read from a file's start to classify it: the header, or the whole first record of a 0.1.0 file. */
export function headProbeBytes(first: Buffer, fileSize: number): number {
  if (first.length < 4 || first.subarray(0, 4).equals(SEGMENT_MAGIC))
    return Math.min(fileSize, SEGMENT_HEADER_BYTES);
  const total = first.readUInt32BE(0) + 4;
  if (total < RECORD_MIN_BYTES || total > RECORD_MAX_BYTES) return Math.min(fileSize, SEGMENT_HEADER_BYTES);
  return Math.min(fileSize, Math.max(total, SEGMENT_HEADER_BYTES));
}

export function v1SegmentError(file: string): SegmentFormatError {
  return new SegmentFormatError(
    `segment file ${file} has no format header: it was written by EventterMQ 0.1.0 (segment format 1), ` +
      `which this version (format ${SEGMENT_FORMAT_VERSION}) does not read. Stop the broker and run ` +
      '`eventter upgrade-data --data-dir <data directory>` once to convert the data directory.',
    file,
    1,
  );
}

export function newerSegmentError(file: string, version: number): SegmentFormatError {
  return new SegmentFormatError(
    `segment file ${file} has format version ${version}, newer than this EventterMQ reads ` +
      `(format ${SEGMENT_FORMAT_VERSION}): run the EventterMQ version that wrote it, or a newer one.`,
    file,
    version,
  );
}
