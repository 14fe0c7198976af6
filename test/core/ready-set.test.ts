import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ReadySet } from '../../src/core/ready-set.js';
import type { LiveEntries } from '../../src/store/queue-store.js';

interface Entry {
  offset: number;
  expiresAt: number;
  size: number;
  priority: number;
}

function batchOf(entries: Entry[]): LiveEntries {
  return {
    count: entries.length,
    offsets: Float64Array.from(entries, (e) => e.offset),
    expiresAt: Float64Array.from(entries, (e) => e.expiresAt),
    sizes: Uint32Array.from(entries, (e) => e.size),
    priorities: Uint8Array.from(entries, (e) => e.priority),
  };
}

/** Shifts everything out of the set: its delivery order. */
function drain(set: ReadySet): Array<Entry & { level: number }> {
  const out: Array<Entry & { level: number }> = [];
  while (set.length > 0) {
    const level = set.headLevel();
    out.push({
      offset: set.peekOffset(),
      expiresAt: set.peekExpiry(),
      size: set.peekSize(),
      priority: level,
      level,
    });
    set.shift();
  }
  return out;
}

test('property: recovered batches give the same set, bytes and delivery order as pushing one by one', () => {
  const entry = fc.record({
    gap: fc.integer({ min: 1, max: 3 }),
    expiresAt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1e12 })),
    size: fc.integer({ min: 0, max: 5000 }),
    // Runs of one priority (copied in bulk) and interleaved ones (entry by entry); above the max counts as it.
    priority: fc.integer({ min: 0, max: 12 }),
    run: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 60 })),
  });
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 9 }),
      fc.array(fc.array(entry, { maxLength: 20 }), { maxLength: 6 }),
      fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 30 }),
      fc.boolean(),
      (maxPriority, batches, after, reserve) => {
        const bulk = new ReadySet(maxPriority);
        const single = new ReadySet(maxPriority);
        let offset = 0;
        let bytes = 0;
        const all: Entry[][] = batches.map((b) =>
          b.flatMap((e) =>
            Array.from({ length: e.run }, () => {
              offset += e.gap;
              return { offset, expiresAt: e.expiresAt, size: e.size, priority: e.priority };
            }),
          ),
        );
        if (reserve) bulk.reserve(all.reduce((n, b) => n + b.length, 0));
        for (const b of all) {
          bytes += bulk.pushBatch(batchOf(b));
          for (const e of b) single.push(e.offset, e.expiresAt, e.size, e.priority);
        }
        assert.equal(
          bytes,
          all.flat().reduce((n, e) => n + e.size, 0),
        );
        // Messages published after recovery go behind the recovered ones.
        for (const p of after) {
          offset++;
          bulk.push(offset, 0, 1, p);
          single.push(offset, 0, 1, p);
        }
        assert.equal(bulk.length, single.length);
        assert.deepEqual(drain(bulk), drain(single));
      },
    ),
    { numRuns: 300 },
  );
});

test('a batch goes into its levels: highest priority first, FIFO within a level', () => {
  const set = new ReadySet(2);
  const bytes = set.pushBatch(
    batchOf([
      { offset: 10, expiresAt: 0, size: 5, priority: 0 },
      { offset: 11, expiresAt: 99, size: 6, priority: 2 },
      { offset: 12, expiresAt: 0, size: 7, priority: 9 },
      { offset: 13, expiresAt: 0, size: 8, priority: 1 },
    ]),
  );
  assert.equal(bytes, 26);
  assert.deepEqual(
    drain(set).map((e) => [e.offset, e.level, e.expiresAt, e.size]),
    [
      [11, 2, 99, 6],
      [12, 2, 0, 7],
      [13, 1, 0, 8],
      [10, 0, 0, 5],
    ],
  );
});
