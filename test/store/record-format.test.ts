import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  checkRecord,
  decodeRecord,
  encodedRecordSize,
  encodeRecordToBuffer,
  type NewRecord,
  RECORD_CORRUPT,
  RECORD_INCOMPLETE,
  RecordFormatError,
} from '../../src/store/record-format.js';

const sample: NewRecord = {
  timestamp: 1_700_000_000_123,
  persistent: true,
  expiresAt: 2 ** 40 + 5,
  priority: 9,
  exchange: 'amq.tøpic',
  routingKey: 'a.b.c',
  properties: Buffer.from([1, 2, 3]),
  body: Buffer.from('hello'),
};

test('round-trips every field', () => {
  const buf = encodeRecordToBuffer(sample, 2 ** 50 + 3);
  assert.equal(buf.length, encodedRecordSize(sample));
  assert.equal(checkRecord(buf, 0, buf.length), buf.length);
  const rec = decodeRecord(buf, 0, buf.length, true);
  assert.deepEqual(rec, { offset: 2 ** 50 + 3, ...sample });
});

test('detects incomplete and corrupt records', () => {
  const buf = encodeRecordToBuffer(sample, 1);
  for (let n = 0; n < buf.length; n++) assert.equal(checkRecord(buf, 0, n), RECORD_INCOMPLETE);
  for (let i = 4; i < buf.length; i++) {
    const bad = Buffer.from(buf);
    bad[i] ^= 0x40;
    assert.equal(checkRecord(bad, 0, bad.length), RECORD_CORRUPT, `flip at ${i}`);
  }
  const huge = Buffer.from(buf);
  huge.writeUInt32BE(0xffffffff, 0);
  assert.equal(checkRecord(huge, 0, huge.length), RECORD_CORRUPT);
});

test('validates fields with a typed error', () => {
  assert.throws(() => encodedRecordSize({ ...sample, exchange: 'x'.repeat(256) }), RecordFormatError);
  assert.throws(() => encodedRecordSize({ ...sample, routingKey: 'é'.repeat(128) }), RecordFormatError);
  assert.throws(() => encodedRecordSize({ ...sample, priority: 256 }), RecordFormatError);
  assert.throws(() => encodedRecordSize({ ...sample, timestamp: -1 }), RecordFormatError);
  assert.throws(() => encodedRecordSize({ ...sample, expiresAt: 2 ** 53 }), RecordFormatError);
});

test('property: decode(encode(r)) == r', () => {
  fc.assert(
    fc.property(
      fc.record({
        timestamp: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        persistent: fc.boolean(),
        expiresAt: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        priority: fc.integer({ min: 0, max: 255 }),
        exchange: fc.string({ maxLength: 60 }),
        routingKey: fc.string({ maxLength: 60 }),
        properties: fc.uint8Array({ maxLength: 100 }).map((a) => Buffer.from(a)),
        body: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      (rec, offset) => {
        const buf = encodeRecordToBuffer(rec, offset);
        assert.equal(checkRecord(buf, 0, buf.length), buf.length);
        assert.deepEqual(decodeRecord(buf, 0, buf.length, true), { offset, ...rec });
      },
    ),
  );
});
