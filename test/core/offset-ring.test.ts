import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { OffsetRing } from '../../src/core/offset-ring.js';

test('behaves as a sorted list under push, shift, insertSorted and unshift', () => {
  type Op = { kind: 'push' } | { kind: 'shift' } | { kind: 'requeue'; pick: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ kind: 'push' as const }),
    fc.constant({ kind: 'shift' as const }),
    fc.nat(1000).map((pick) => ({ kind: 'requeue' as const, pick })),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 3000 }), (ops) => {
      const ring = new OffsetRing(4);
      const model: number[] = [];
      const taken: number[] = [];
      let next = 0;
      for (const o of ops) {
        if (o.kind === 'push') {
          ring.push(next, next * 2, next % 7);
          model.push(next++);
        } else if (o.kind === 'shift') {
          if (model.length === 0) continue;
          assert.equal(ring.peekOffset(), model[0]);
          assert.equal(ring.peekExpiry(), model[0] * 2);
          assert.equal(ring.peekSize(), model[0] % 7);
          taken.push(model.shift()!);
          ring.shift();
        } else if (taken.length > 0) {
          const [offset] = taken.splice(o.pick % taken.length, 1);
          ring.insertSorted(offset, offset * 2, offset % 7);
          model.push(offset);
          model.sort((a, b) => a - b);
        }
        assert.equal(ring.length, model.length);
      }
      for (let i = 0; i < model.length; i++) assert.equal(ring.offsetAt(i), model[i]);
    }),
    { numRuns: 200 },
  );
});

test('property: pushMany appends like push, across the ring wrapping around and growing', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 0, max: 40 }),
      fc.array(fc.integer({ min: 0, max: 70 }), { maxLength: 6 }),
      fc.integer({ min: 0, max: 50 }),
      (pushed, shifted, runs, reserve) => {
        const ring = new OffsetRing(16);
        const model: number[] = [];
        let next = 0;
        for (let i = 0; i < pushed; i++) {
          ring.push(next, next * 2, next % 7);
          model.push(next++);
        }
        for (let i = 0; i < shifted && model.length > 0; i++) {
          ring.shift();
          model.shift();
        }
        ring.reserve(reserve);
        for (const n of runs) {
          const offsets = Float64Array.from({ length: n + 2 }, (_, k) => next + k - 1);
          ring.pushMany(
            offsets,
            offsets.map((o) => o * 2),
            Uint32Array.from(offsets, (o) => o % 7),
            1,
            n + 1,
          );
          for (let k = 0; k < n; k++) model.push(next++);
        }
        assert.equal(ring.length, model.length);
        for (let i = 0; i < model.length; i++) assert.equal(ring.offsetAt(i), model[i]);
        for (const o of model) {
          assert.deepEqual([ring.peekOffset(), ring.peekExpiry(), ring.peekSize()], [o, o * 2, o % 7]);
          ring.shift();
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('removeAt, indexOf and lowerBound agree with a sorted list, across wraps and growth', () => {
  type Op =
    | { kind: 'push' }
    | { kind: 'shift' }
    | { kind: 'remove'; pick: number }
    | { kind: 'find'; at: number };
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.constant({ kind: 'push' as const }),
    fc.constant({ kind: 'shift' as const }),
    fc.nat(1000).map((pick) => ({ kind: 'remove' as const, pick })),
    fc.nat(3000).map((at) => ({ kind: 'find' as const, at })),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 2000 }), (ops) => {
      const ring = new OffsetRing(4);
      const model: number[] = [];
      let next = 0;
      for (const o of ops) {
        if (o.kind === 'push') {
          // Gaps between offsets, as deletes by id leave them.
          next += 1 + (next % 3);
          ring.push(next, next * 2, next % 7);
          model.push(next);
        } else if (o.kind === 'shift') {
          if (model.length === 0) continue;
          model.shift();
          ring.shift();
        } else if (o.kind === 'remove') {
          if (model.length === 0) continue;
          const i = o.pick % model.length;
          assert.equal(ring.indexOf(model[i]), i);
          ring.removeAt(i);
          model.splice(i, 1);
        } else {
          const expected = model.findIndex((x) => x >= o.at);
          assert.equal(ring.lowerBound(o.at), expected < 0 ? model.length : expected);
          assert.equal(ring.indexOf(o.at), model.indexOf(o.at));
        }
        assert.equal(ring.length, model.length);
      }
      for (let i = 0; i < model.length; i++) {
        assert.equal(ring.offsetAt(i), model[i]);
        assert.equal(ring.expiryAt(i), model[i] * 2);
        assert.equal(ring.sizeAt(i), model[i] % 7);
      }
    }),
    { numRuns: 200 },
  );
});
