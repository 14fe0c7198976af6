/** fast-check arbitraries for field values that decode back to exactly what was encoded. */
import fc from 'fast-check';
import { type FieldTable, type FieldValue, TypedFieldValue } from '../../src/codec/field-table.js';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** Keys up to 40 code points stay under the 255-byte shortstr limit. */
export const tableKey = fc.string({ unit: 'binary', maxLength: 40 });

/** Scalars whose decoded form is identical to the input. */
export const scalarFieldValue: fc.Arbitrary<FieldValue> = fc.oneof(
  fc.boolean(),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  // bigint only decodes back to a bigint outside Number's safe range
  fc.oneof(fc.bigInt({ min: SAFE + 1n, max: INT64_MAX }), fc.bigInt({ min: INT64_MIN, max: -SAFE - 1n })),
  fc.string({ unit: 'binary', maxLength: 50 }),
  fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)),
  fc.constant(null),
  fc.maxSafeNat().map((s) => new TypedFieldValue('timestamp', s)),
  fc
    .record({ places: fc.integer({ min: 0, max: 255 }), value: fc.integer({ min: 0, max: 0xffff_ffff }) })
    .map((d) => new TypedFieldValue('decimal', { places: d.places, value: d.value })),
  fc.float().map((f) => new TypedFieldValue('float', f)),
);

/** Tables nested up to `maxDepth` levels (the outer table counts as one). */
export function fieldTableArbitrary(maxDepth = 4): fc.Arbitrary<FieldTable> {
  const { table } = fc.letrec<{ value: FieldValue; table: FieldTable; array: FieldValue[] }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      scalarFieldValue,
      tie('table'),
      tie('array'),
    ),
    table: fc.dictionary(tableKey, tie('value'), {
      maxKeys: 6,
      depthIdentifier: 'ft',
      noNullPrototype: true,
    }),
    array: fc.array(tie('value'), { maxLength: 6, depthIdentifier: 'ft' }),
  }));
  return table.filter((t) => depthOf(t) <= maxDepth);
}

function depthOf(v: FieldValue): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === 'object' && !(v instanceof TypedFieldValue) && !Buffer.isBuffer(v)) {
    return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  }
  return 0;
}
