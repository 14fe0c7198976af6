import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ConfirmTracker } from '../../src/client/confirm-tracker.js';

describe('ConfirmTracker', () => {
  it('numbers publishes from 1 and settles single and multiple acks', () => {
    const t = new ConfirmTracker();
    for (let i = 1; i <= 10; i++) assert.equal(t.add(), i);
    t.settle(3, false, true);
    assert.equal(t.outstanding, 9);
    t.settle(5, true, true); // 1, 2, 4, 5
    assert.equal(t.outstanding, 5);
    t.settle(7, false, false);
    assert.deepEqual([t.outstanding, t.acked, t.nacked], [4, 5, 1]);
    t.settle(3, false, true); // already settled: ignored
    t.settle(99, true, true); // beyond what was published: ignored
    assert.equal(t.outstanding, 4);
    t.settle(0, true, true); // tag 0 + multiple = everything
    assert.equal(t.outstanding, 0);
  });

  it('resolves waiters once the outstanding count falls to their limit', async () => {
    const t = new ConfirmTracker();
    for (let i = 0; i < 10; i++) t.add();
    let done = false;
    const waiting = t.waitForAtMost(4).then(() => {
      done = true;
    });
    t.settle(5, true, true);
    await Promise.resolve();
    assert.equal(done, false);
    t.settle(6, false, true);
    await waiting;
    assert.equal(done, true);
  });

  it('keeps an exact count through ring growth and any ack order (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.tuple(fc.double({ min: 0, max: 1, noNaN: true }), fc.boolean()), { maxLength: 200 }),
        (count, acks) => {
          const t = new ConfirmTracker();
          const open = new Set<number>();
          for (let i = 0; i < count; i++) open.add(t.add());
          for (const [where, multiple] of acks) {
            const tag = 1 + Math.floor(where * (count - 1));
            t.settle(tag, multiple, true);
            if (multiple) {
              for (const x of [...open]) if (x <= tag) open.delete(x);
            } else open.delete(tag);
            assert.equal(t.outstanding, open.size);
          }
          assert.equal(t.acked, count - open.size);
        },
      ),
      { numRuns: 50 },
    );
  });
});
