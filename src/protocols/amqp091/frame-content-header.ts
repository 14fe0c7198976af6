/**
 * Readers for a content header frame payload: class-id (u16), weight (u16, always 0),
 * body-size (u64), then the raw properties (flags + property list) up to the end of the payload.
 * Plain functions over the received bytes so the publish path allocates nothing here.
 */
import { CodecError, CodecReplyCode, frameError } from '../../codec/codec-error.js';

/** Offset of the raw properties from the start of the payload. */
export const CONTENT_HEADER_PROPERTIES_OFFSET = 12;

/**
 * Validates the payload in buf[start, end) and returns its body size. Throws CodecError 501 when it
 * is too short or the size exceeds maxBodySize, 505 when weight is non-zero (as RabbitMQ does).
 */
export function contentHeaderBodySize(buf: Buffer, start: number, end: number, maxBodySize: number): number {
  // 12 fixed bytes + at least the property flags word.
  if (end - start < CONTENT_HEADER_PROPERTIES_OFFSET + 2) throw frameError('content header frame too short');
  if (buf[start + 2] !== 0 || buf[start + 3] !== 0) {
    throw new CodecError(CodecReplyCode.UNEXPECTED_FRAME, 'content header with non-zero weight');
  }
  const hi = buf.readUInt32BE(start + 4);
  const size = hi * 0x1_0000_0000 + buf.readUInt32BE(start + 8);
  if (hi >= 0x20_0000 || size > maxBodySize) {
    throw frameError(`content body size ${size} exceeds maximum allowed size ${maxBodySize}`);
  }
  return size;
}

/** Class id of a content header payload starting at `start` (validate first with contentHeaderBodySize). */
export function contentHeaderClassId(buf: Buffer, start: number): number {
  return (buf[start] << 8) | buf[start + 1];
}
