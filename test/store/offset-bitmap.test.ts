import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OffsetBitmap } from '../../src/store/offset-bitmap.js';

test('add / has / deleteRange across pages', () => {
  const b = new OffsetBitmap();
  const offsets = [0, 1, 31, 32, 65535, 65536, 200_000, 2 ** 40];
  for (const o of offsets) assert.equal(b.add(o), true);
  assert.equal(b.add(32), false);
  assert.equal(b.size, offsets.length);
  for (const o of offsets) assert.equal(b.has(o), true);
  assert.equal(b.has(2), false);
  b.deleteRange(1, 65537);
  assert.deepEqual(
    offsets.map((o) => b.has(o)),
    [true, false, false, false, false, false, true, true],
  );
  assert.equal(b.size, 3);
  b.deleteRange(0, 2 ** 41);
  assert.equal(b.size, 0);
});
