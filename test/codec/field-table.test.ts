import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CodecError } from '../../src/codec/codec-error.js';
import {
  decodeFieldArray,
  decodeFieldTable,
  encodeFieldArray,
  encodeFieldTable,
  type FieldTable,
  type FieldValue,
  fieldTableByteLength,
  MAX_FIELD_TABLE_DEPTH,
  TypedFieldValue,
  writeFieldTable,
} from '../../src/codec/field-table.js';
import { amqplibCodec } from './amqplib-internals.js';
import { fieldTableArbitrary, scalarFieldValue } from './field-value-arbitrary.js';

function roundTrip(table: FieldTable): FieldTable {
  const buf = encodeFieldTable(table);
  const { table: out, offset } = decodeFieldTable(buf, 0);
  assert.equal(offset, buf.length);
  return out;
}

function assertCodecError(fn: () => unknown, replyCode?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CodecError, `expected CodecError, got ${String(err)}`);
    if (replyCode !== undefined) assert.equal(err.replyCode, replyCode);
    return true;
  });
}

describe('field table encoding', () => {
  it('encodes golden bytes for plain values', () => {
    assert.deepEqual(encodeFieldTable({ a: 1 }), Buffer.from([0, 0, 0, 7, 1, 0x61, 0x49, 0, 0, 0, 1]));
    assert.deepEqual(encodeFieldTable({ t: true }), Buffer.from([0, 0, 0, 4, 1, 0x74, 0x74, 1]));
    assert.deepEqual(
      encodeFieldTable({ s: 'hi' }),
      Buffer.from([0, 0, 0, 9, 1, 0x73, 0x53, 0, 0, 0, 2, 0x68, 0x69]),
    );
    assert.deepEqual(encodeFieldTable({ v: null }), Buffer.from([0, 0, 0, 3, 1, 0x76, 0x56]));
    assert.deepEqual(encodeFieldTable(undefined), Buffer.from([0, 0, 0, 0]));
    assert.deepEqual(encodeFieldTable({}), Buffer.from([0, 0, 0, 0]));
  });

  it('chooses wire types for plain JS values', () => {
    const typeOf = (v: FieldValue) => String.fromCharCode(encodeFieldTable({ k: v })[6]);
    assert.equal(typeOf(true), 't');
    assert.equal(typeOf(2147483647), 'I');
    assert.equal(typeOf(-2147483648), 'I');
    assert.equal(typeOf(2147483648), 'l');
    assert.equal(typeOf(1.5), 'd');
    assert.equal(typeOf(-0), 'd');
    assert.equal(typeOf(2 ** 60), 'd'); // beyond the safe range an integer is only a double
    assert.equal(typeOf(5n), 'l');
    assert.equal(typeOf('x'), 'S');
    assert.equal(typeOf(Buffer.from([1])), 'x');
    assert.equal(typeOf([1]), 'A');
    assert.equal(typeOf({ a: 1 }), 'F');
    assert.equal(typeOf(null), 'V');
    assert.equal(typeOf(undefined), 'V');
    assert.equal(typeOf(new Date(0)), 'T');
    assert.equal(typeOf(new TypedFieldValue('byte', -1)), 'b');
    assert.equal(typeOf(new TypedFieldValue('unsigned-byte', 255)), 'B');
    assert.equal(typeOf(new TypedFieldValue('short', -1)), 's');
    assert.equal(typeOf(new TypedFieldValue('unsigned-short', 1)), 'u');
    assert.equal(typeOf(new TypedFieldValue('int', 1)), 'I');
    assert.equal(typeOf(new TypedFieldValue('unsigned-int', 1)), 'i');
    assert.equal(typeOf(new TypedFieldValue('long', 1)), 'l');
    assert.equal(typeOf(new TypedFieldValue('unsigned-long', 1)), 'L');
    assert.equal(typeOf(new TypedFieldValue('float', 1)), 'f');
    assert.equal(typeOf(new TypedFieldValue('double', 1)), 'd');
  });

  it('decodes narrower integer types to numbers', () => {
    const t = roundTrip({
      b: new TypedFieldValue('byte', -5),
      B: new TypedFieldValue('unsigned-byte', 250),
      s: new TypedFieldValue('short', -300),
      u: new TypedFieldValue('unsigned-short', 65000),
      i: new TypedFieldValue('unsigned-int', 4_000_000_000),
      l: new TypedFieldValue('long', -(2 ** 40)),
      L: new TypedFieldValue('unsigned-long', 2n ** 64n - 1n),
      d: new TypedFieldValue('double', 0.25),
    });
    assert.deepEqual(t, {
      b: -5,
      B: 250,
      s: -300,
      u: 65000,
      i: 4_000_000_000,
      l: -(2 ** 40),
      L: 2n ** 64n - 1n,
      d: 0.25,
    });
  });

  it('decodes int64 outside the safe integer range as bigint', () => {
    const t = roundTrip({
      lo: -(2n ** 53n),
      hi: 2n ** 53n,
      lowSafe: -(2n ** 53n) + 1n,
      edge: 2n ** 63n - 1n,
    });
    assert.deepStrictEqual(t, {
      lo: -(2n ** 53n),
      hi: 2n ** 53n,
      lowSafe: -(2 ** 53) + 1,
      edge: 2n ** 63n - 1n,
    });
  });

  it('decodes Date as a timestamp in seconds', () => {
    assert.deepEqual(roundTrip({ at: new Date(1_700_000_000_999) }), {
      at: new TypedFieldValue('timestamp', 1_700_000_000),
    });
  });

  it('decodes the RabbitMQ 0-9-1 signed short "s" and the spec "U"', () => {
    const buf = Buffer.from([0, 0, 0, 10, 1, 0x61, 0x73, 0xff, 0xfe, 1, 0x62, 0x55, 0x80, 0x00]);
    assert.deepEqual(decodeFieldTable(buf, 0).table, { a: -2, b: -32768 });
  });

  it('round-trips arbitrary nested tables', () => {
    fc.assert(
      fc.property(fieldTableArbitrary(), (table) => {
        assert.deepStrictEqual(roundTrip(table), table);
        assert.equal(fieldTableByteLength(table), encodeFieldTable(table).length);
      }),
    );
  });

  it('round-trips arrays', () => {
    fc.assert(
      fc.property(fc.array(scalarFieldValue, { maxLength: 10 }), (arr) => {
        const buf = encodeFieldArray(arr);
        assert.deepStrictEqual(decodeFieldArray(buf, 0).array, arr);
      }),
    );
  });

  it('writes at an offset inside a larger buffer and decodes within bounds', () => {
    fc.assert(
      fc.property(fieldTableArbitrary(3), fc.nat(20), (table, pad) => {
        const size = fieldTableByteLength(table);
        const buf = Buffer.alloc(pad + size + 5, 0xab);
        assert.equal(writeFieldTable(buf, pad, table), pad + size);
        const r = decodeFieldTable(buf, pad, pad + size);
        assert.equal(r.offset, pad + size);
        assert.deepStrictEqual(r.table, table);
      }),
    );
  });

  it('keeps a "__proto__" key as data', () => {
    const buf = Buffer.from([0, 0, 0, 15, 9, ...Buffer.from('__proto__'), 0x49, 0, 0, 0, 7]);
    const t = decodeFieldTable(buf, 0).table;
    assert.equal(Object.getPrototypeOf(t), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(t, '__proto__')?.value, 7);
    assert.deepEqual(encodeFieldTable(t), buf);
  });

  it('interoperates with amqplib', () => {
    const table = {
      s: 'str',
      n: 5,
      big: 70000,
      neg: -1,
      f: 1.5,
      b: true,
      nested: { x: [1, 'a', false] },
      z: null,
    };
    const buf = Buffer.alloc(512);
    const len = amqplibCodec.encodeTable(buf, table, 0);
    assert.deepEqual(decodeFieldTable(buf.subarray(0, len), 0).table, table);
    const mine = encodeFieldTable(table);
    assert.deepEqual(amqplibCodec.decodeFields(mine.subarray(4)), table);
  });
});

describe('field table limits and malformed input', () => {
  function nested(depth: number): FieldTable {
    let t: FieldTable = { leaf: 1 };
    for (let i = 1; i < depth; i++) t = { t };
    return t;
  }

  it(`accepts ${MAX_FIELD_TABLE_DEPTH} levels and rejects deeper nesting both ways`, () => {
    assert.deepEqual(roundTrip(nested(MAX_FIELD_TABLE_DEPTH)), nested(MAX_FIELD_TABLE_DEPTH));
    assertCodecError(() => encodeFieldTable(nested(MAX_FIELD_TABLE_DEPTH + 1)), 502);
    // Hand-build a 17-deep encoding: each level is key 't' of type F wrapping the next.
    let inner = Buffer.from([0, 0, 0, 0]);
    for (let i = 1; i <= MAX_FIELD_TABLE_DEPTH; i++) {
      const body = Buffer.concat([Buffer.from([1, 0x74, 0x46]), inner]);
      const len = Buffer.alloc(4);
      len.writeUInt32BE(body.length);
      inner = Buffer.concat([len, body]);
    }
    assertCodecError(() => decodeFieldTable(inner, 0), 502);
  });

  it('rejects a cyclic table instead of overflowing the stack', () => {
    const t: FieldTable = {};
    t.self = t;
    assertCodecError(() => encodeFieldTable(t), 502);
  });

  it('rejects keys longer than 255 bytes and unsupported values', () => {
    assertCodecError(() => encodeFieldTable({ ['k'.repeat(256)]: 1 }), 502);
    assertCodecError(() => encodeFieldTable({ f: (() => 1) as unknown as FieldValue }), 502);
    assertCodecError(() => encodeFieldTable({ m: new Map() as unknown as FieldValue }), 502);
    assertCodecError(() => encodeFieldTable({ b: new TypedFieldValue('byte', 300) }), 502);
    assertCodecError(() => encodeFieldTable({ b: 2n ** 64n }), 502);
  });

  it('throws CodecError 502 for every truncation of a valid table', () => {
    fc.assert(
      fc.property(fieldTableArbitrary(3), (table) => {
        const buf = encodeFieldTable(table);
        for (let cut = 0; cut < buf.length; cut++) {
          assertCodecError(() => decodeFieldTable(buf.subarray(0, cut), 0), 502);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('never throws anything but CodecError on random bytes, and never reads past end', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const buf = Buffer.from(bytes);
        try {
          const r = decodeFieldTable(buf, 0);
          assert.ok(r.offset <= buf.length);
        } catch (err) {
          assert.ok(err instanceof CodecError, String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('checks inner lengths against the enclosing table, not only the buffer', () => {
    // Outer table says 6 bytes but its string value claims 100 bytes that exist in the buffer.
    const buf = Buffer.concat([Buffer.from([0, 0, 0, 6, 1, 0x61, 0x53, 0, 0, 0, 100]), Buffer.alloc(100)]);
    assertCodecError(() => decodeFieldTable(buf, 0), 502);
  });

  it('rejects unknown field types', () => {
    assertCodecError(() => decodeFieldTable(Buffer.from([0, 0, 0, 3, 1, 0x61, 0x51]), 0), 502);
  });
});
