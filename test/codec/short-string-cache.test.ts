import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeShortString, encodeShortString } from '../../src/codec/short-string-cache.js';

describe('short string cache', () => {
  it('always decodes the bytes it is given, whatever was cached before', () => {
    // Few distinct short values force slot reuse and byte-for-byte comparisons.
    const str = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 70 }),
      fc.constantFrom('a', 'b', 'ab', 'ba', ''),
    );
    fc.assert(
      fc.property(fc.array(str, { maxLength: 50 }), fc.nat(5), (values, pad) => {
        for (const v of values) {
          const bytes = Buffer.concat([Buffer.alloc(pad, 0x41), Buffer.from(v), Buffer.from('zz')]);
          const len = Buffer.byteLength(v);
          assert.equal(decodeShortString(bytes, pad, pad + len), v);
        }
      }),
    );
  });

  it('decodes many distinct strings correctly after the cache wraps', () => {
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(`routing.key.${i}`);
      assert.equal(decodeShortString(b, 0, b.length), `routing.key.${i}`);
    }
  });

  it('encodes to UTF-8 and stays correct when its bound is exceeded', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
        assert.deepEqual(encodeShortString(s), Buffer.from(s, 'utf8'));
      }),
    );
    for (let i = 0; i < 5000; i++) assert.equal(encodeShortString(`k${i}`).toString(), `k${i}`);
  });
});
