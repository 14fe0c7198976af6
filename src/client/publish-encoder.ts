/**
 * Encodes basic.publish + content header + body frame(s) straight into the connection's output buffer:
 * no method object, no intermediate Buffers.
 */
import type { OutputBuffer } from './output-buffer.js';

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_END = 0xce;
const OVERHEAD = 8;
const BASIC_PUBLISH = 60 * 65536 + 40;
const CLASS_BASIC = 60;
const TWO_32 = 0x1_0000_0000;

function frameHeader(buf: Buffer, o: number, type: number, channel: number, size: number): number {
  buf[o] = type;
  buf[o + 1] = channel >>> 8;
  buf[o + 2] = channel & 0xff;
  buf.writeUInt32BE(size, o + 3);
  return o + 7;
}

/** Bytes the publish of a body of `bodyLength` takes on the wire. */
export function publishWireSize(
  exchangeLength: number,
  routingKeyLength: number,
  rawPropertiesLength: number,
  bodyLength: number,
  frameMax: number,
): number {
  const chunk = frameMax - OVERHEAD;
  const bodyFrames = bodyLength === 0 ? 0 : Math.ceil(bodyLength / chunk);
  const method = 4 + 2 + 1 + exchangeLength + 1 + routingKeyLength + 1;
  return method + OVERHEAD + 12 + rawPropertiesLength + OVERHEAD + bodyLength + bodyFrames * OVERHEAD;
}

/**
 * exchange and routingKey are pre-encoded UTF-8 (at most 255 bytes each, checked by the caller);
 * frameMax is the negotiated whole-frame limit.
 */
export function writePublish(
  out: OutputBuffer,
  channel: number,
  exchange: Buffer,
  routingKey: Buffer,
  mandatory: boolean,
  rawProperties: Buffer,
  body: Buffer,
  frameMax: number,
): void {
  const size = publishWireSize(
    exchange.length,
    routingKey.length,
    rawProperties.length,
    body.length,
    frameMax,
  );
  const buf = out.reserve(size);
  let o = out.pos;
  const methodSize = 4 + 2 + 1 + exchange.length + 1 + routingKey.length + 1;
  o = frameHeader(buf, o, FRAME_METHOD, channel, methodSize);
  buf.writeUInt32BE(BASIC_PUBLISH, o);
  buf[o + 4] = 0; // ticket
  buf[o + 5] = 0;
  o += 6;
  buf[o++] = exchange.length;
  o += exchange.copy(buf, o);
  buf[o++] = routingKey.length;
  o += routingKey.copy(buf, o);
  buf[o++] = mandatory ? 1 : 0;
  buf[o++] = FRAME_END;

  o = frameHeader(buf, o, FRAME_HEADER, channel, 12 + rawProperties.length);
  buf[o] = 0;
  buf[o + 1] = CLASS_BASIC;
  buf[o + 2] = 0; // weight
  buf[o + 3] = 0;
  const hi = Math.floor(body.length / TWO_32);
  buf.writeUInt32BE(hi, o + 4);
  buf.writeUInt32BE(body.length - hi * TWO_32, o + 8);
  o += 12;
  o += rawProperties.copy(buf, o);
  buf[o++] = FRAME_END;

  const chunk = frameMax - OVERHEAD;
  for (let at = 0; at < body.length; at += chunk) {
    const end = Math.min(at + chunk, body.length);
    o = frameHeader(buf, o, FRAME_BODY, channel, end - at);
    o += body.copy(buf, o, at, end);
    buf[o++] = FRAME_END;
  }
  out.commit(o);
}

/** basic.ack (consumer acknowledgement) into the output buffer. */
export function writeAck(out: OutputBuffer, channel: number, deliveryTag: number, multiple: boolean): void {
  const buf = out.reserve(21);
  let o = frameHeader(buf, out.pos, FRAME_METHOD, channel, 13);
  buf.writeUInt32BE(60 * 65536 + 80, o);
  const hi = Math.floor(deliveryTag / TWO_32);
  buf.writeUInt32BE(hi, o + 4);
  buf.writeUInt32BE(deliveryTag - hi * TWO_32, o + 8);
  buf[o + 12] = multiple ? 1 : 0;
  buf[o + 13] = FRAME_END;
  o += 14;
  out.commit(o);
}
