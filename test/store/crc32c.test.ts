import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crc32c } from '../../src/store/crc32c.js';

/** Bit-at-a-time reference implementation to check the sliced tables against. */
function reference(buf: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of buf) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test('known vectors', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
  assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  const ascending = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) ascending[i] = i;
  assert.equal(crc32c(ascending), 0x46dd794e);
});

test('matches the bitwise reference for every length and alignment', () => {
  const buf = Buffer.alloc(300);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 131 + 7) & 0xff;
  for (let start = 0; start < 9; start++) {
    for (let end = start; end <= buf.length; end += 7) {
      assert.equal(crc32c(buf, start, end), reference(buf.subarray(start, end)));
    }
  }
});

test('seed continues a checksum across pieces', () => {
  const buf = Buffer.from('The quick brown fox jumps over the lazy dog');
  const whole = crc32c(buf);
  for (let cut = 0; cut <= buf.length; cut++) {
    assert.equal(crc32c(buf, cut, buf.length, crc32c(buf, 0, cut)), whole);
  }
});

test('rejects out-of-bounds ranges', () => {
  assert.throws(() => crc32c(Buffer.alloc(4), 0, 5), RangeError);
  assert.throws(() => crc32c(Buffer.alloc(4), 3, 2), RangeError);
});
