import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeBasicProperties, encodeBasicProperties } from '../../../../src/codec/basic-properties.js';
import { CodecError } from '../../../../src/codec/codec-error.js';
import {
  CONTENT_HEADER_PROPERTIES_OFFSET,
  contentHeaderBodySize,
  contentHeaderClassId,
} from '../../../../src/protocols/amqp091/frame-content-header.js';
import { FrameParser } from '../../../../src/protocols/amqp091/frame-parser.js';
import {
  ackFrame,
  bodyFrameParts,
  bodyFrames,
  contentHeaderFrame,
  encodeDelivery,
  encodeGetOk,
  encodeReturn,
  heartbeatFrame,
  methodFrame,
  nackFrame,
} from '../../../../src/protocols/amqp091/frame-writer.js';
import { decodeMethod, encodeMethod } from '../../../../src/protocols/amqp091/generated/methods.js';
import { amqplibFrame } from '../../../codec/amqplib-internals.js';

interface Parsed {
  type: number;
  channel: number;
  payload: Buffer;
}

function parseAll(buf: Buffer, frameMax = 1 << 20): Parsed[] {
  const out: Parsed[] = [];
  const parser = new FrameParser(
    { onFrame: (type, channel, b, s, e) => void out.push({ type, channel, payload: b.subarray(s, e) }) },
    { expectProtocolHeader: false, maxFrameSize: frameMax },
  );
  parser.push(buf);
  assert.equal(parser.bufferedBytes, 0, 'no trailing partial frame');
  return out;
}

/** Checks method + content header + body frames; returns the decoded method, properties and body. */
function readMessage(buf: Buffer, channel: number, frameMax: number) {
  const frames = parseAll(buf, frameMax);
  for (const f of frames) {
    assert.equal(f.channel, channel);
    assert.ok(f.payload.length + 8 <= frameMax);
  }
  assert.equal(frames[0].type, 1);
  assert.equal(frames[1].type, 2);
  const header = frames[1].payload;
  const size = contentHeaderBodySize(header, 0, header.length, Number.MAX_SAFE_INTEGER);
  assert.equal(contentHeaderClassId(header, 0), 60);
  const bodies = frames.slice(2);
  for (const b of bodies) assert.equal(b.type, 3);
  const body = Buffer.concat(bodies.map((b) => b.payload));
  assert.equal(body.length, size);
  if (size === 0) assert.equal(bodies.length, 0);
  else assert.equal(bodies.length, Math.ceil(size / (frameMax - 8)));
  return {
    method: decodeMethod(frames[0].payload, 0, frames[0].payload.length),
    properties: decodeBasicProperties(header, CONTENT_HEADER_PROPERTIES_OFFSET),
    body,
  };
}

const shortstr = fc.string({ unit: 'binary', maxLength: 63 });

describe('frame writer', () => {
  it('writes golden heartbeat and method frames', () => {
    assert.deepEqual(heartbeatFrame(), Buffer.from([8, 0, 0, 0, 0, 0, 0, 0xce]));
    assert.deepEqual(
      methodFrame(0x0102, Buffer.from([0, 10, 0, 51])),
      Buffer.from([1, 1, 2, 0, 0, 0, 4, 0, 10, 0, 51, 0xce]),
    );
    assert.deepEqual(
      contentHeaderFrame(1, 60, 5, Buffer.from([0, 0])),
      Buffer.from([2, 0, 1, 0, 0, 0, 14, 0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0xce]),
    );
  });

  it('splits bodies by frame max and writes none for an empty body', () => {
    assert.deepEqual(bodyFrames(1, Buffer.alloc(0), 4096), []);
    const frames = bodyFrames(2, Buffer.from('abcdefghij'), 12);
    assert.deepEqual(
      frames.map((f) => f.subarray(7, f.length - 1).toString()),
      ['abcd', 'efgh', 'ij'],
    );
    assert.equal(bodyFrames(1, Buffer.alloc(10_000), 0).length, 1);
  });

  it('encodes basic.deliver with content in one buffer that parses back exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffff }),
        shortstr,
        fc.maxSafeNat(),
        fc.boolean(),
        shortstr,
        shortstr,
        fc.uint8Array({ maxLength: 3000 }).map((a) => Buffer.from(a)),
        fc.integer({ min: 4096, max: 9000 }),
        fc.boolean(),
        (channel, tag, deliveryTag, redelivered, exchange, routingKey, body, frameMax, preEncoded) => {
          const raw = encodeBasicProperties({
            contentType: 'text/plain',
            deliveryMode: 2,
            headers: { a: 1 },
          });
          const buf = encodeDelivery(
            channel,
            preEncoded ? Buffer.from(tag) : tag,
            deliveryTag,
            redelivered,
            exchange,
            routingKey,
            raw,
            body,
            frameMax >> 3, // small frames force several body frames
          );
          const msg = readMessage(buf, channel, frameMax >> 3);
          assert.deepStrictEqual(msg.method, {
            name: 'basic.deliver',
            classId: 60,
            methodId: 60,
            consumerTag: tag,
            deliveryTag,
            redelivered,
            exchange,
            routingKey,
          });
          assert.deepStrictEqual(msg.properties, {
            contentType: 'text/plain',
            deliveryMode: 2,
            headers: { a: 1 },
          });
          assert.deepEqual(msg.body, body);
          // Same bytes as the general encoder would produce for the method frame.
          const general = methodFrame(channel, encodeMethod(msg.method));
          assert.deepEqual(buf.subarray(0, general.length), general);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('is readable by amqplib', () => {
    const raw = encodeBasicProperties({ messageId: 'm1', priority: 3 });
    let buf = encodeDelivery(5, 'ctag', 42, true, 'ex', 'rk', raw, Buffer.from('hello world'), 4096 + 8);
    const decoded = [];
    for (;;) {
      const f = amqplibFrame.parseFrame(buf, 1 << 20);
      if (!f) break;
      decoded.push(amqplibFrame.decodeFrame(f));
      buf = f.rest;
    }
    assert.equal(buf.length, 0);
    assert.equal(decoded.length, 3);
    assert.deepEqual(decoded[0].fields, {
      consumerTag: 'ctag',
      deliveryTag: 42,
      redelivered: true,
      exchange: 'ex',
      routingKey: 'rk',
    });
    assert.equal(decoded[1].size, 11);
    assert.deepEqual(
      Object.fromEntries(Object.entries(decoded[1].fields as object).filter(([, v]) => v !== undefined)),
      { messageId: 'm1', priority: 3 },
    );
    assert.equal(decoded[2].content?.toString(), 'hello world');
  });

  it('encodes basic.get-ok and basic.return with content', () => {
    const raw = encodeBasicProperties({ expiration: '1000' });
    const getOk = readMessage(
      encodeGetOk(3, 7, false, 'ex', 'rk', 99, raw, Buffer.from('x'.repeat(50)), 32),
      3,
      32,
    );
    assert.deepStrictEqual(getOk.method, {
      name: 'basic.get-ok',
      classId: 60,
      methodId: 71,
      deliveryTag: 7,
      redelivered: false,
      exchange: 'ex',
      routingKey: 'rk',
      messageCount: 99,
    });
    assert.equal(getOk.body.toString(), 'x'.repeat(50));
    const ret = readMessage(
      encodeReturn(3, 312, 'NO_ROUTE', 'ex', 'rk', raw, Buffer.alloc(0), 4096),
      3,
      4096,
    );
    assert.deepStrictEqual(ret.method, {
      name: 'basic.return',
      classId: 60,
      methodId: 50,
      replyCode: 312,
      replyText: 'NO_ROUTE',
      exchange: 'ex',
      routingKey: 'rk',
    });
    assert.deepStrictEqual(ret.properties, { expiration: '1000' });
  });

  it('encodes confirm ack and nack frames', () => {
    const [ack] = parseAll(ackFrame(1, 2 ** 40 + 1, true));
    assert.deepStrictEqual(decodeMethod(ack.payload, 0, ack.payload.length), {
      name: 'basic.ack',
      classId: 60,
      methodId: 80,
      deliveryTag: 2 ** 40 + 1,
      multiple: true,
    });
    const [nack] = parseAll(nackFrame(9, 3, false, true));
    assert.equal(nack.channel, 9);
    assert.deepStrictEqual(decodeMethod(nack.payload, 0, nack.payload.length), {
      name: 'basic.nack',
      classId: 60,
      methodId: 120,
      deliveryTag: 3,
      multiple: false,
      requeue: true,
    });
  });

  it('rejects long short strings with CodecError and bad channels with RangeError', () => {
    const raw = Buffer.from([0, 0]);
    assert.throws(
      () => encodeDelivery(1, 'x'.repeat(256), 1, false, '', '', raw, Buffer.alloc(0), 4096),
      (e: unknown) => e instanceof CodecError && e.replyCode === 502,
    );
    assert.throws(() => methodFrame(70000, Buffer.alloc(4)), RangeError);
  });
});

describe('content header payload readers', () => {
  const header = (weight: number, size: number) => {
    const b = Buffer.alloc(14);
    b.writeUInt16BE(60, 0);
    b.writeUInt16BE(weight, 2);
    b.writeBigUInt64BE(BigInt(size), 4);
    return b;
  };

  it('reads the body size and enforces the maximum (501) and zero weight (505)', () => {
    assert.equal(contentHeaderBodySize(header(0, 1234), 0, 14, 10_000), 1234);
    assert.throws(
      () => contentHeaderBodySize(header(0, 10_001), 0, 14, 10_000),
      (e: unknown) => e instanceof CodecError && e.replyCode === 501,
    );
    assert.throws(
      () => contentHeaderBodySize(header(1, 1), 0, 14, 10_000),
      (e: unknown) => e instanceof CodecError && e.replyCode === 505,
    );
    assert.throws(
      () => contentHeaderBodySize(header(0, 1), 0, 13, 10_000),
      (e: unknown) => e instanceof CodecError && e.replyCode === 501,
    );
    const huge = header(0, 0);
    huge.writeBigUInt64BE(2n ** 63n, 4);
    assert.throws(() => contentHeaderBodySize(huge, 0, 14, Number.MAX_SAFE_INTEGER), CodecError);
  });
});

it('a large delivery sent as head + body frame parts is byte-identical to the inline encoding', () => {
  const body = Buffer.alloc(300_000);
  for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
  const props = Buffer.from([0x10, 0x00, 0x02]); // delivery-mode 2
  const inline = encodeDelivery(3, 'ctag', 42, true, 'ex', 'rk', props, body, 131072);
  const head = encodeDelivery(3, 'ctag', 42, true, 'ex', 'rk', props, body, 131072, false);
  const parts = Buffer.concat([head, ...bodyFrameParts(3, body, 131072)]);
  assert.ok(parts.equals(inline));
  assert.equal(bodyFrameParts(3, body, 131072).length, 3 * Math.ceil(body.length / (131072 - 8)));
});
