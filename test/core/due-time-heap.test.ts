import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { DueTimeHeap } from '../../src/core/due-time-heap.js';

type Op = { kind: 'push'; due: number } | { kind: 'pop' } | { kind: 'clear' };

function byDueThenOffset(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

test('an empty heap peeks Infinity and pops -1', () => {
  const heap = new DueTimeHeap();
  assert.equal(heap.size, 0);
  assert.equal(heap.peekDue(), Number.POSITIVE_INFINITY);
  assert.equal(heap.peekOffset(), -1);
  assert.equal(heap.pop(), -1);
});

test('pops by due time, equal due times by offset (FIFO)', () => {
  const heap = new DueTimeHeap(1);
  const dues = [50, 10, 50, 10, 0, 30, 10];
  for (const [offset, due] of dues.entries()) heap.push(due, offset);
  const out: [number, number][] = [];
  while (heap.size > 0) {
    const due = heap.peekDue();
    out.push([due, heap.pop()]);
  }
  assert.deepEqual(out, [
    [0, 4],
    [10, 1],
    [10, 3],
    [10, 6],
    [30, 5],
    [50, 0],
    [50, 2],
  ]);
});

test('grows past its capacity and shrinks back after draining (~16 bytes per entry)', () => {
  const heap = new DueTimeHeap();
  const n = 100_000;
  for (let i = 0; i < n; i++) heap.push((i * 7919) % 1000, i);
  assert.equal(heap.size, n);
  assert.ok(heap.capacityBytes <= 2 * 16 * n, `capacity ${heap.capacityBytes}`);
  let lastDue = -1;
  let lastOffset = -1;
  for (let i = 0; i < n; i++) {
    const due = heap.peekDue();
    const offset = heap.pop();
    assert.ok(due > lastDue || (due === lastDue && offset > lastOffset));
    lastDue = due;
    lastOffset = offset;
  }
  assert.equal(heap.size, 0);
  assert.ok(heap.capacityBytes <= 16 * 128, `capacity after drain ${heap.capacityBytes}`);
});

test('matches a sorted-array model under random push/pop/clear (property)', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 0, max: 20 }).map((due) => ({ kind: 'push' as const, due })) },
    { weight: 3, arbitrary: fc.constant({ kind: 'pop' as const }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'clear' as const }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
      const heap = new DueTimeHeap(1);
      let model: [number, number][] = [];
      let nextOffset = 0;
      for (const o of ops) {
        if (o.kind === 'push') {
          heap.push(o.due, nextOffset);
          model.push([o.due, nextOffset]);
          nextOffset++;
          model.sort(byDueThenOffset);
        } else if (o.kind === 'pop') {
          const expected = model.shift();
          const due = heap.peekDue();
          const offset = heap.pop();
          if (expected === undefined) {
            assert.equal(offset, -1);
            assert.equal(due, Number.POSITIVE_INFINITY);
          } else assert.deepEqual([due, offset], expected);
        } else {
          heap.clear();
          model = [];
        }
        assert.equal(heap.size, model.length);
        assert.equal(heap.peekOffset(), model.length > 0 ? model[0][1] : -1);
      }
    }),
    { numRuns: 300 },
  );
});
