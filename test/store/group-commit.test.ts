import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GroupCommit, GroupCommitClosedError } from '../../src/store/group-commit.js';

/** A sync function the test completes by hand, recording concurrency. */
function controlledSync() {
  const calls: number[] = [];
  const pending: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlightPerFd = 0;
  const perFd = new Map<number, number>();
  const syncFn = (fd: number, cb: (err: Error | null) => void) => {
    calls.push(fd);
    inFlight++;
    const n = (perFd.get(fd) ?? 0) + 1;
    perFd.set(fd, n);
    maxInFlightPerFd = Math.max(maxInFlightPerFd, n);
    pending.push(() => {
      inFlight--;
      perFd.set(fd, perFd.get(fd)! - 1);
      cb(fd === 666 ? new Error('disk on fire') : null);
    });
  };
  return {
    syncFn,
    calls,
    pending,
    get inFlight() {
      return inFlight;
    },
    get maxInFlightPerFd() {
      return maxInFlightPerFd;
    },
    completeAll() {
      for (const p of pending.splice(0)) p();
    },
  };
}

const tick = () => new Promise((r) => setImmediate(r));

test('one round at a time; requests during a round wait for the next', async () => {
  const s = controlledSync();
  const gc = new GroupCommit({ syncFn: s.syncFn });
  const done: string[] = [];
  gc.requestSync(1, () => done.push('a1'));
  gc.requestSync(2, () => done.push('a2'));
  gc.requestSync(1, () => done.push('a1b'));
  await tick();
  // One round: fds 1 and 2 synced once each, in parallel.
  assert.deepEqual(s.calls.sort(), [1, 2]);
  gc.requestSync(1, () => done.push('b1'));
  gc.requestSync(3, () => done.push('b3'));
  await tick();
  await tick();
  assert.equal(s.calls.length, 2, 'no second round while the first is in flight');
  s.completeAll();
  assert.deepEqual(done, ['a1', 'a2', 'a1b']);
  await tick();
  assert.deepEqual(s.calls.slice(2).sort(), [1, 3]);
  s.completeAll();
  assert.deepEqual(done, ['a1', 'a2', 'a1b', 'b1', 'b3']);
  assert.equal(s.maxInFlightPerFd, 1);
  assert.equal(gc.rounds, 2);
});

test('errors go to the callbacks of the failing fd only; flush waits', async () => {
  const s = controlledSync();
  const gc = new GroupCommit({ syncFn: s.syncFn });
  const results: Array<[number, string | null]> = [];
  gc.requestSync(666, (e) => results.push([666, e?.message ?? null]));
  gc.requestSync(7, (e) => results.push([7, e?.message ?? null]));
  let flushed = false;
  const f = gc.flush().then(() => {
    flushed = true;
  });
  await tick();
  assert.equal(flushed, false);
  s.completeAll();
  await tick();
  await tick();
  s.completeAll();
  await f;
  assert.deepEqual(results, [
    [666, 'disk on fire'],
    [7, null],
  ]);
});

test('fsync off: callbacks fire without syncing; closed rejects', async () => {
  const s = controlledSync();
  const gc = new GroupCommit({ fsync: false, syncFn: s.syncFn });
  await new Promise<void>((resolve, reject) => gc.requestSync(1, (e) => (e ? reject(e) : resolve())));
  assert.equal(s.calls.length, 0);
  await gc.close();
  const err = await new Promise<Error | null>((resolve) => gc.requestSync(1, resolve));
  assert.ok(err instanceof GroupCommitClosedError);
});
