/**
 * Frame encoding for the server's output. The delivery path (basic.deliver / get-ok / return +
 * content header + body frames) is written into one exact-size allocation per message, without
 * building method objects.
 */
import { syntaxError } from '../../codec/codec-error.js';
import { encodeShortString } from '../../codec/short-string-cache.js';

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;
const FRAME_END_OCTET = 0xce;
/** Frame header (7) + frame-end (1). */
const OVERHEAD = 8;
/** class-id, weight, body-size in a content header payload, before the properties. */
const CONTENT_HEADER_PREFIX = 12;
const CLASS_BASIC = 60;
const TWO_32 = 0x1_0000_0000;

/** A shortstr argument: a string, or its UTF-8 bytes pre-encoded by a caller that reuses it. */
export type ShortString = string | Buffer;

const HEARTBEAT_FRAME = Buffer.from([FRAME_HEARTBEAT, 0, 0, 0, 0, 0, 0, FRAME_END_OCTET]);

function writeFrameHeader(buf: Buffer, o: number, type: number, channel: number, size: number): number {
  buf[o] = type;
  buf[o + 1] = channel >>> 8;
  buf[o + 2] = channel & 0xff;
  buf.writeUInt32BE(size, o + 3);
  return o + 7;
}

function writeU64(buf: Buffer, o: number, v: number): number {
  const hi = Math.floor(v / TWO_32);
  buf.writeUInt32BE(hi, o);
  buf.writeUInt32BE(v - hi * TWO_32, o + 4);
  return o + 8;
}

function shortBytes(s: ShortString): Buffer {
  const bytes = typeof s === 'string' ? encodeShortString(s) : s;
  if (bytes.length > 255) throw syntaxError('short string longer than 255 bytes');
  return bytes;
}

function writeShort(buf: Buffer, o: number, bytes: Buffer): number {
  buf[o++] = bytes.length;
  // TypedArray#set stays in V8: cheaper than Buffer#copy's native call for short strings.
  buf.set(bytes, o);
  return o + bytes.length;
}

function checkChannel(channel: number): void {
  if (!(channel >= 0 && channel <= 0xffff && Number.isInteger(channel))) {
    throw new RangeError(`channel must be 0..65535, got ${channel}`);
  }
}

/** Largest body slice per body frame; 0 = no negotiated limit = one body frame. */
function bodyChunkSize(frameMax: number): number {
  if (frameMax === 0) return Number.MAX_SAFE_INTEGER;
  if (frameMax <= OVERHEAD) throw new RangeError(`frame max ${frameMax} leaves no room for a body`);
  return frameMax - OVERHEAD;
}

/** Bytes of the content header frame + body frames for a message. */
function contentFramesSize(
  rawProperties: Buffer,
  bodyLength: number,
  chunk: number,
  bodyInline = true,
): number {
  const header = OVERHEAD + CONTENT_HEADER_PREFIX + rawProperties.length;
  if (!bodyInline) return header;
  const frames = bodyLength === 0 ? 0 : Math.ceil(bodyLength / chunk);
  return header + bodyLength + frames * OVERHEAD;
}

function writeContentFrames(
  buf: Buffer,
  o: number,
  channel: number,
  classId: number,
  rawProperties: Buffer,
  body: Buffer,
  chunk: number,
  bodyInline = true,
): number {
  o = writeFrameHeader(buf, o, FRAME_HEADER, channel, CONTENT_HEADER_PREFIX + rawProperties.length);
  buf[o] = classId >>> 8;
  buf[o + 1] = classId & 0xff;
  buf[o + 2] = 0; // weight
  buf[o + 3] = 0;
  o = writeU64(buf, o + 4, body.length);
  buf.set(rawProperties, o);
  o += rawProperties.length;
  buf[o++] = FRAME_END_OCTET;
  if (!bodyInline) return o;
  for (let at = 0; at < body.length; at += chunk) {
    const end = Math.min(at + chunk, body.length);
    o = writeFrameHeader(buf, o, FRAME_BODY, channel, end - at);
    if (end - at === body.length) buf.set(body, o);
    else body.copy(buf, o, at, end);
    o += end - at;
    buf[o++] = FRAME_END_OCTET;
  }
  return o;
}

/** Wraps an encoded method payload (see encodeMethod) in a method frame. */
export function methodFrame(channel: number, payload: Buffer): Buffer {
  checkChannel(channel);
  const buf = Buffer.allocUnsafe(payload.length + OVERHEAD);
  let o = writeFrameHeader(buf, 0, FRAME_METHOD, channel, payload.length);
  o += payload.copy(buf, o);
  buf[o] = FRAME_END_OCTET;
  return buf;
}

/** The heartbeat frame (shared instance: never modify it). */
export function heartbeatFrame(): Buffer {
  return HEARTBEAT_FRAME;
}

/** A content header frame; rawProperties is the flags word + property list. */
export function contentHeaderFrame(
  channel: number,
  classId: number,
  bodySize: number,
  rawProperties: Buffer,
): Buffer {
  checkChannel(channel);
  const size = CONTENT_HEADER_PREFIX + rawProperties.length;
  const buf = Buffer.allocUnsafe(size + OVERHEAD);
  let o = writeFrameHeader(buf, 0, FRAME_HEADER, channel, size);
  buf.writeUInt16BE(classId, o);
  buf.writeUInt16BE(0, o + 2);
  o = writeU64(buf, o + 4, bodySize);
  o += rawProperties.copy(buf, o);
  buf[o] = FRAME_END_OCTET;
  return buf;
}

/** Body frames of at most frameMax bytes each (frameMax 0 = one frame); none for an empty body. */
export function bodyFrames(channel: number, body: Buffer, frameMax: number): Buffer[] {
  checkChannel(channel);
  const chunk = bodyChunkSize(frameMax);
  const frames: Buffer[] = [];
  for (let at = 0; at < body.length; at += chunk) {
    const end = Math.min(at + chunk, body.length);
    const buf = Buffer.allocUnsafe(end - at + OVERHEAD);
    const o = writeFrameHeader(buf, 0, FRAME_BODY, channel, end - at);
    body.copy(buf, o, at, end);
    buf[buf.length - 1] = FRAME_END_OCTET;
    frames.push(buf);
  }
  return frames;
}

/** Bodies from this size on are sent as slices of the message (no copy), the frame headers around them. */
export const LARGE_BODY_BYTES = 64 * 1024;

const FRAME_END_BUFFER = Buffer.from([FRAME_END_OCTET]);

/**
 * Body frames as [header, body slice, frame-end] triples that share the body's memory: for large messages
 * a corked socket gathers them with writev instead of copying megabytes per delivery.
 */
export function bodyFrameParts(channel: number, body: Buffer, frameMax: number): Buffer[] {
  checkChannel(channel);
  const chunk = bodyChunkSize(frameMax);
  const parts: Buffer[] = [];
  for (let at = 0; at < body.length; at += chunk) {
    const end = Math.min(at + chunk, body.length);
    const header = Buffer.allocUnsafe(7);
    writeFrameHeader(header, 0, FRAME_BODY, channel, end - at);
    parts.push(header, body.subarray(at, end), FRAME_END_BUFFER);
  }
  return parts;
}

/**
 * basic.deliver + content header + body frame(s), all in one Buffer; with `bodyInline` false, only the
 * method and content header (announcing body.length): the caller sends bodyFrameParts() after it.
 * consumerTag/exchange/routingKey may be pre-encoded Buffers (consumer tags repeat per delivery).
 */
export function encodeDelivery(
  channel: number,
  consumerTag: ShortString,
  deliveryTag: number,
  redelivered: boolean,
  exchange: ShortString,
  routingKey: ShortString,
  rawProperties: Buffer,
  body: Buffer,
  frameMax: number,
  bodyInline = true,
): Buffer {
  checkChannel(channel);
  const chunk = bodyChunkSize(frameMax);
  const tag = shortBytes(consumerTag);
  const ex = shortBytes(exchange);
  const rk = shortBytes(routingKey);
  // class, method, consumer-tag, delivery-tag, redelivered, exchange, routing-key
  const methodSize = 4 + 1 + tag.length + 8 + 1 + 1 + ex.length + 1 + rk.length;
  const buf = Buffer.allocUnsafe(
    methodSize + OVERHEAD + contentFramesSize(rawProperties, body.length, chunk, bodyInline),
  );
  let o = writeFrameHeader(buf, 0, FRAME_METHOD, channel, methodSize);
  buf.writeUInt32BE(CLASS_BASIC * 65536 + 60, o);
  o = writeShort(buf, o + 4, tag);
  o = writeU64(buf, o, deliveryTag);
  buf[o++] = redelivered ? 1 : 0;
  o = writeShort(buf, o, ex);
  o = writeShort(buf, o, rk);
  buf[o++] = FRAME_END_OCTET;
  writeContentFrames(buf, o, channel, CLASS_BASIC, rawProperties, body, chunk, bodyInline);
  return buf;
}

/** basic.get-ok + content header + body frame(s), all in one Buffer. */
export function encodeGetOk(
  channel: number,
  deliveryTag: number,
  redelivered: boolean,
  exchange: ShortString,
  routingKey: ShortString,
  messageCount: number,
  rawProperties: Buffer,
  body: Buffer,
  frameMax: number,
): Buffer {
  checkChannel(channel);
  const chunk = bodyChunkSize(frameMax);
  const ex = shortBytes(exchange);
  const rk = shortBytes(routingKey);
  // class, method, delivery-tag, redelivered, exchange, routing-key, message-count
  const methodSize = 4 + 8 + 1 + 1 + ex.length + 1 + rk.length + 4;
  const buf = Buffer.allocUnsafe(
    methodSize + OVERHEAD + contentFramesSize(rawProperties, body.length, chunk),
  );
  let o = writeFrameHeader(buf, 0, FRAME_METHOD, channel, methodSize);
  buf.writeUInt32BE(CLASS_BASIC * 65536 + 71, o);
  o = writeU64(buf, o + 4, deliveryTag);
  buf[o++] = redelivered ? 1 : 0;
  o = writeShort(buf, o, ex);
  o = writeShort(buf, o, rk);
  o = buf.writeUInt32BE(messageCount, o);
  buf[o++] = FRAME_END_OCTET;
  writeContentFrames(buf, o, channel, CLASS_BASIC, rawProperties, body, chunk);
  return buf;
}

/** basic.return (unroutable mandatory message) + content header + body frame(s), in one Buffer. */
export function encodeReturn(
  channel: number,
  replyCode: number,
  replyText: ShortString,
  exchange: ShortString,
  routingKey: ShortString,
  rawProperties: Buffer,
  body: Buffer,
  frameMax: number,
): Buffer {
  checkChannel(channel);
  const chunk = bodyChunkSize(frameMax);
  const text = shortBytes(replyText);
  const ex = shortBytes(exchange);
  const rk = shortBytes(routingKey);
  const methodSize = 4 + 2 + 1 + text.length + 1 + ex.length + 1 + rk.length;
  const buf = Buffer.allocUnsafe(
    methodSize + OVERHEAD + contentFramesSize(rawProperties, body.length, chunk),
  );
  let o = writeFrameHeader(buf, 0, FRAME_METHOD, channel, methodSize);
  buf.writeUInt32BE(CLASS_BASIC * 65536 + 50, o);
  o = buf.writeUInt16BE(replyCode, o + 4);
  o = writeShort(buf, o, text);
  o = writeShort(buf, o, ex);
  o = writeShort(buf, o, rk);
  buf[o++] = FRAME_END_OCTET;
  writeContentFrames(buf, o, channel, CLASS_BASIC, rawProperties, body, chunk);
  return buf;
}

/** basic.ack frame (publisher confirm). */
export function ackFrame(channel: number, deliveryTag: number, multiple: boolean): Buffer {
  return tagFrame(channel, 80, deliveryTag, multiple ? 1 : 0);
}

/** basic.nack frame (negative publisher confirm). */
export function nackFrame(channel: number, deliveryTag: number, multiple: boolean, requeue: boolean): Buffer {
  return tagFrame(channel, 120, deliveryTag, (multiple ? 1 : 0) | (requeue ? 2 : 0));
}

function tagFrame(channel: number, methodId: number, deliveryTag: number, bits: number): Buffer {
  checkChannel(channel);
  const buf = Buffer.allocUnsafe(13 + OVERHEAD);
  let o = writeFrameHeader(buf, 0, FRAME_METHOD, channel, 13);
  buf.writeUInt32BE(CLASS_BASIC * 65536 + methodId, o);
  o = writeU64(buf, o + 4, deliveryTag);
  buf[o] = bits;
  buf[o + 1] = FRAME_END_OCTET;
  return buf;
}
