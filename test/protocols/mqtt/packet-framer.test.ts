import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { PacketFramer, topicsAreUtf8 } from '../../../src/protocols/mqtt/packet-framer.js';

const publish = fc
  .record({
    topic: fc.string({ minLength: 1, maxLength: 30 }).filter((t) => !t.includes('\u0000')),
    payload: fc.uint8Array({ maxLength: 300 }),
    qos: fc.constantFrom(0, 1) as fc.Arbitrary<0 | 1>,
  })
  .map(
    ({ topic, payload, qos }): Packet => ({
      cmd: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos,
      retain: false,
      dup: false,
      messageId: qos > 0 ? 1 : undefined,
    }),
  );

/** Cuts a buffer at the given fractions into consecutive chunks. */
function chunks(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * buf.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let at = 0;
  for (const p of points) {
    out.push(buf.subarray(at, p));
    at = p;
  }
  out.push(buf.subarray(at));
  return out;
}

describe('PacketFramer', () => {
  it('gives back exactly the packets sent, however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.array(publish, { minLength: 1, maxLength: 8 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 10 }),
        (packets, cuts) => {
          const encoded = packets.map((p) => mqttPacket.generate(p));
          const framer = new PacketFramer(1 << 20);
          const out: Buffer[] = [];
          for (const chunk of chunks(Buffer.concat(encoded), cuts)) {
            assert.equal(
              framer.push(chunk, (packet) => {
                out.push(Buffer.from(packet));
                return true;
              }),
              undefined,
            );
          }
          assert.deepEqual(out, encoded);
          assert.equal(framer.bufferedBytes, 0);
        },
      ),
    );
  });

  it('refuses a packet larger than the limit from its header alone', () => {
    const framer = new PacketFramer(1000);
    // PUBLISH announcing 2,000,000 bytes; only the fixed header has arrived.
    assert.equal(
      framer.push(Buffer.from([0x30, 0x80, 0x89, 0x7a]), () => true),
      'too-large',
    );
  });

  it('refuses a remaining length of more than four bytes', () => {
    const framer = new PacketFramer(1 << 28);
    assert.equal(
      framer.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), () => true),
      'malformed-length',
    );
  });

  it('checks topics and filters on their raw bytes', () => {
    const good = mqttPacket.generate({
      cmd: 'publish',
      topic: 'a/é',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
    });
    assert.equal(topicsAreUtf8(good, 4), true);
    const bad = Buffer.from(good);
    bad[bad.indexOf(0xc3)] = 0xff; // breaks the two-byte sequence of é
    assert.equal(topicsAreUtf8(bad, 4), false);
    const subscribe = mqttPacket.generate({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'ok', qos: 0 },
        { topic: 'ü/#', qos: 1 },
      ],
    });
    assert.equal(topicsAreUtf8(subscribe, 4), true);
    const badSubscribe = Buffer.from(subscribe);
    badSubscribe[badSubscribe.indexOf(0xc3)] = 0xc0;
    assert.equal(topicsAreUtf8(badSubscribe, 4), false);
  });

  it('never throws on arbitrary bytes, with the codec behind it (fuzz)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }),
        fc.constantFrom(4, 5),
        (parts, version) => {
          const framer = new PacketFramer(4096);
          const parser = mqttPacket.parser({ protocolVersion: version });
          parser.on('error', () => {});
          parser.on('packet', () => {});
          let failed = false;
          for (const part of parts) {
            if (failed) break;
            const problem = framer.push(Buffer.from(part), (packet) => {
              if (topicsAreUtf8(packet, version)) parser.parse(packet);
              return true;
            });
            failed = problem !== undefined;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });
});
