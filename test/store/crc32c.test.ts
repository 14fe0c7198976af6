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

test('large inputs (the native path) agree with the bitwise reference, at any offset and seed', () => {
  const buf = Buffer.alloc(70_000);
  for (let i = 0; i < buf.length; i++) buf[i] = (i * 2654435761) >>> 24;
  for (const [start, end] of [
    [0, 1023],
    [0, 1024],
    [3, 5000],
    [17, 70_000],
    [1000, 2025],
  ]) {
    assert.equal(crc32c(buf, start, end), reference(buf.subarray(start, end)), `[${start}, ${end})`);
  }
  const seeded = crc32c(buf, 40_000, 70_000, crc32c(buf, 0, 40_000));
  assert.equal(seeded, crc32c(buf, 0, 70_000));
  // The same bytes in a Uint8Array view that is not a Buffer.
  const view = new Uint8Array(buf.buffer, buf.byteOffset + 5, 9000);
  assert.equal(crc32c(view), reference(buf.subarray(5, 9005)));
});
