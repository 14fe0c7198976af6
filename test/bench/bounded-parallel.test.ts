import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forEachBounded } from '../../src/bench/bounded-parallel.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('forEachBounded', () => {
  it('runs every index once with at most `parallelism` running', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachBounded(25, 4, async (i) => {
      running++;
      most = Math.max(most, running);
      await tick();
      seen.push(i);
      running--;
    });
    assert.equal(most, 4);
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      Array.from({ length: 25 }, (_, i) => i),
    );
  });

  it('starts nothing new after a failure, lets running tasks settle, rethrows the first error', async () => {
    const started: number[] = [];
    let settled = 0;
    await assert.rejects(
      forEachBounded(100, 3, async (i) => {
        started.push(i);
        await tick();
        settled++;
        if (i === 4) throw new Error('boom 4');
      }),
      /boom 4/,
    );
    assert.ok(started.length < 10, `started ${started.length}`);
    assert.equal(settled, started.length);
  });

  it('handles zero tasks and rejects a bad parallelism', async () => {
    await forEachBounded(0, 5, async () => assert.fail('no task expected'));
    await assert.rejects(
      forEachBounded(3, 0, async () => {}),
      RangeError,
    );
  });
});
