import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BUSY, LoginGate } from '../../src/core/login-gate.js';

/** The login gate's scheduling, driven by hand-resolved checks (no timing). */

function deferred() {
  let resolve: (ok: boolean) => void = () => {};
  const promise = new Promise<boolean>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Records the order in which checks start; each finishes when the test says so. */
function harness(gate: LoginGate) {
  const started: string[] = [];
  const finish = new Map<string, (ok: boolean) => void>();
  const submit = (address: string, label: string) =>
    gate.run(address, () => {
      started.push(label);
      const d = deferred();
      finish.set(label, d.resolve);
      return d.promise;
    });
  const flush = () => new Promise((resolve) => setImmediate(resolve));
  return { started, finish, submit, flush };
}

describe('login gate', () => {
  it('runs at most maxConcurrent checks, one per address, addresses taking turns', async () => {
    const gate = new LoginGate({ maxConcurrent: 1, maxWaitingPerAddress: 10 });
    const { started, finish, submit, flush } = harness(gate);
    const results = [submit('a', 'a1'), submit('a', 'a2'), submit('a', 'a3'), submit('b', 'b1')];
    assert.deepEqual(started, ['a1']);
    assert.equal(gate.active, 1);
    finish.get('a1')!(false);
    await flush();
    assert.deepEqual(started, ['a1', 'b1'], 'b went before a’s second check');
    finish.get('b1')!(true);
    await flush();
    finish.get('a2')!(false);
    await flush();
    finish.get('a3')!(true);
    assert.deepEqual(await Promise.all(results), [false, false, true, true]);
    assert.deepEqual(started, ['a1', 'b1', 'a2', 'a3']);
    assert.equal(gate.active, 0);
  });

  it('runs checks of different addresses side by side up to maxConcurrent', async () => {
    const gate = new LoginGate({ maxConcurrent: 2, maxWaitingPerAddress: 10 });
    const { started, submit } = harness(gate);
    void submit('a', 'a1');
    void submit('a', 'a2');
    void submit('b', 'b1');
    void submit('c', 'c1');
    assert.deepEqual(started, ['a1', 'b1']);
  });

  it('answers BUSY, without running it, to an address with too many checks waiting', async () => {
    const gate = new LoginGate({ maxConcurrent: 1, maxWaitingPerAddress: 2 });
    const { started, finish, submit, flush } = harness(gate);
    void submit('a', 'a1'); // running
    void submit('a', 'a2');
    void submit('a', 'a3');
    assert.equal(await submit('a', 'a4'), BUSY);
    assert.notEqual(await Promise.race([submit('b', 'b1'), flush().then(() => 'pending')]), BUSY);
    finish.get('a1')!(true);
    await flush();
    assert.deepEqual(started, ['a1', 'b1']);
  });

  it('a check that throws rejects its caller and frees its turn', async () => {
    const gate = new LoginGate({ maxConcurrent: 1, maxWaitingPerAddress: 10 });
    await assert.rejects(
      gate.run('a', () => {
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(await gate.run('a', async () => true), true);
  });
});
