import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type BasicProperties,
  decodeBasicProperties,
  EMPTY_RAW_PROPERTIES,
  encodeBasicProperties,
  rawDeliveryMode,
  rawExpiration,
  rawPriority,
} from '../../src/codec/basic-properties.js';
import { CodecError } from '../../src/codec/codec-error.js';
import { amqplibDefs } from './amqplib-internals.js';
import { fieldTableArbitrary } from './field-value-arbitrary.js';

const shortstr = fc.string({ unit: 'binary', maxLength: 63 });
const octet = fc.integer({ min: 0, max: 255 });

const propertiesArbitrary: fc.Arbitrary<BasicProperties> = fc.record(
  {
    contentType: shortstr,
    contentEncoding: shortstr,
    headers: fieldTableArbitrary(3),
    deliveryMode: octet,
    priority: octet,
    correlationId: shortstr,
    replyTo: shortstr,
    expiration: shortstr,
    messageId: shortstr,
    timestamp: fc.maxSafeNat(),
    type: shortstr,
    userId: shortstr,
    appId: shortstr,
    clusterId: shortstr,
  },
  { requiredKeys: [], noNullPrototype: true },
);

function assertCodecError(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => err instanceof CodecError && err.replyCode === 502);
}

describe('basic properties', () => {
  it('encodes golden bytes', () => {
    assert.deepEqual(encodeBasicProperties({}), Buffer.from([0, 0]));
    assert.deepEqual(EMPTY_RAW_PROPERTIES, Buffer.from([0, 0]));
    assert.deepEqual(encodeBasicProperties({ deliveryMode: 2 }), Buffer.from([0x10, 0x00, 2]));
    assert.deepEqual(
      encodeBasicProperties({ contentType: 'a', priority: 9, timestamp: 1 }),
      Buffer.from([0x88, 0x40, 1, 0x61, 9, 0, 0, 0, 0, 0, 0, 0, 1]),
    );
    assert.deepEqual(encodeBasicProperties({ clusterId: '' }), Buffer.from([0x00, 0x04, 0]));
  });

  it('round-trips arbitrary properties, also inside a larger buffer', () => {
    fc.assert(
      fc.property(propertiesArbitrary, fc.nat(10), (p, pad) => {
        const raw = encodeBasicProperties(p);
        assert.deepStrictEqual(decodeBasicProperties(raw), p);
        const framed = Buffer.concat([Buffer.alloc(pad, 0xee), raw, Buffer.alloc(3, 0xee)]);
        assert.deepStrictEqual(decodeBasicProperties(framed, pad, pad + raw.length), p);
      }),
    );
  });

  it('single-property readers agree with a full decode', () => {
    fc.assert(
      fc.property(propertiesArbitrary, (p) => {
        const raw = encodeBasicProperties(p);
        assert.equal(rawDeliveryMode(raw), p.deliveryMode ?? 0);
        assert.equal(rawPriority(raw), p.priority ?? 0);
        assert.equal(rawExpiration(raw), p.expiration);
      }),
    );
  });

  it('interoperates with amqplib in both directions', () => {
    fc.assert(
      fc.property(propertiesArbitrary, (p) => {
        // amqplib's own header encoding -> our decoder (skip its frame header and 12-byte prefix)
        const { headers: _h, ...plain } = p;
        const frame = amqplibDefs.encodeProperties(60, 1, 0, plain);
        const raw = frame.subarray(7 + 12, frame.length - 1);
        assert.deepStrictEqual(decodeBasicProperties(raw), plain);
        // our encoding -> amqplib's decoder
        const decoded = amqplibDefs.decode(60, encodeBasicProperties(plain));
        for (const [k, v] of Object.entries(plain)) assert.deepStrictEqual(decoded[k], v, k);
      }),
    );
    const withHeaders = { headers: { 'x-delay': 5000, tag: 'a' }, deliveryMode: 2 };
    assert.deepEqual(amqplibDefs.decode(60, encodeBasicProperties(withHeaders)).headers, withHeaders.headers);
  });

  it('skips continuation flag words', () => {
    // content-type flag + continuation bit, then an extra (empty) flags word, then the property.
    const raw = Buffer.from([0x80, 0x01, 0x00, 0x00, 1, 0x61]);
    assert.deepEqual(decodeBasicProperties(raw), { contentType: 'a' });
    assert.equal(rawDeliveryMode(Buffer.from([0x10, 0x01, 0, 0, 2])), 2);
  });

  it('rejects unencodable values with CodecError 502', () => {
    assertCodecError(() => encodeBasicProperties({ contentType: 'x'.repeat(256) }));
    assertCodecError(() => encodeBasicProperties({ deliveryMode: 256 }));
    assertCodecError(() => encodeBasicProperties({ priority: -1 }));
    assertCodecError(() => encodeBasicProperties({ timestamp: -1 }));
  });

  it('throws CodecError 502 for every truncation and never anything else on random bytes', () => {
    fc.assert(
      fc.property(propertiesArbitrary, (p) => {
        const raw = encodeBasicProperties(p);
        if (raw.length === 2) return;
        for (let cut = 0; cut < raw.length; cut++) assertCodecError(() => decodeBasicProperties(raw, 0, cut));
      }),
      { numRuns: 50 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const raw = Buffer.from(bytes);
        for (const read of [decodeBasicProperties, rawDeliveryMode, rawPriority, rawExpiration]) {
          try {
            read(raw);
          } catch (err) {
            assert.ok(err instanceof CodecError, String(err));
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});
