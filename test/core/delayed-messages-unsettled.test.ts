import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_UNSETTLED, UNSETTLED_STALL_MS } from '../../src/core/delayed-messages.js';
import { tempDir } from '../store/helpers.js';
import { FakeClock, message, open } from './delayed-messages-helpers.js';

/** Spins the event loop (store I/O included) until cond holds; fails after 5 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** A few event-loop turns with store I/O, to show that nothing more happens. */
async function settleDown(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setTimeout(resolve, 1));
}

/** onDue whose routing turns durable only when the test says so (or never). */
function heldRouting() {
  const seen: string[] = [];
  const pending: Array<() => void> = [];
  return {
    seen,
    pending,
    onDue: (m: { body: Buffer }) => {
      seen.push(m.body.toString());
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    /** Routing of the first k fired (and not yet confirmed) messages is durable. */
    confirm(k = pending.length) {
      for (const resolve of pending.splice(0, k)) resolve();
    },
  };
}

test('at most MAX_UNSETTLED fired messages wait for a durable settle; the rest fire as settles complete', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  const routing = heldRouting();
  let dm = await open(dir, clock, [], { onDue: routing.onDue });
  const n = 2 * MAX_UNSETTLED + 10;
  for (let i = 0; i < n; i++) dm.schedule(message(`m${i}`), clock.now + 1);
  clock.advance(clock.now + 1);
  await until(() => routing.seen.length === MAX_UNSETTLED, 'the first window to fire');
  await settleDown();
  assert.equal(routing.seen.length, MAX_UNSETTLED, 'nothing more fires before earlier settles are durable');
  assert.equal(dm.size, n - MAX_UNSETTLED);

  // Half of them are durably routed: their settles are made durable, then as many more fire.
  routing.confirm(MAX_UNSETTLED / 2);
  await until(() => routing.seen.length === MAX_UNSETTLED + MAX_UNSETTLED / 2, 'the freed room to fill');
  await settleDown();
  assert.equal(routing.seen.length, MAX_UNSETTLED + MAX_UNSETTLED / 2);

  // A crash now repeats only what is fired and unconfirmed; the confirmed ones are settled for good.
  await dm.close();
  const repeat = heldRouting();
  dm = await open(dir, clock, [], { onDue: repeat.onDue });
  assert.equal(dm.size, n - MAX_UNSETTLED / 2);
  clock.advance(clock.now);
  while (repeat.seen.length < n - MAX_UNSETTLED / 2) {
    await until(() => repeat.pending.length > 0, 'a window to fire');
    assert.ok(repeat.pending.length <= MAX_UNSETTLED, `${repeat.pending.length} unconfirmed at once`);
    repeat.confirm();
    await settleDown();
  }
  repeat.confirm();
  await dm.whenIdle();
  assert.deepEqual(
    repeat.seen,
    Array.from({ length: n - MAX_UNSETTLED / 2 }, (_, i) => `m${i + MAX_UNSETTLED / 2}`),
    'in due (here: publish) order',
  );
  await dm.close();
  dm = await open(dir, clock, []);
  assert.equal(dm.size, 0, 'every confirmed message was settled durably');
  await dm.destroy();
});

test('close while firing is held back: the held-back and the unconfirmed messages are recovered', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  const routing = heldRouting();
  let dm = await open(dir, clock, [], { onDue: routing.onDue });
  const n = MAX_UNSETTLED + 10;
  for (let i = 0; i < n; i++) dm.schedule(message(`m${i}`), clock.now + 1);
  clock.advance(clock.now + 1);
  await until(() => routing.seen.length === MAX_UNSETTLED, 'the first window to fire');
  await dm.close(); // does not wait for routing that never becomes durable
  dm = await open(dir, clock, []);
  assert.equal(dm.size, n, 'at least once: unconfirmed ones fire again');
  await dm.destroy();
});

test('routing that never turns durable holds firing back only for UNSETTLED_STALL_MS', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  const errors: Error[] = [];
  const routing = heldRouting();
  let dm = await open(dir, clock, [], { onDue: routing.onDue, errors });
  for (let i = 0; i < MAX_UNSETTLED + 3; i++) dm.schedule(message(`m${i}`), clock.now + 1);
  clock.advance(clock.now + 1);
  await until(() => routing.seen.length === MAX_UNSETTLED, 'the first window to fire');
  clock.advance(clock.now + UNSETTLED_STALL_MS - 1);
  await settleDown();
  assert.equal(routing.seen.length, MAX_UNSETTLED);
  clock.advance(clock.now + 1);
  await until(() => routing.seen.length === MAX_UNSETTLED + 3, 'the rest to fire after the stall');
  await dm.whenIdle();
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /not durably routed/);

  // Late confirms of the written-off window free no room: the next window is still bounded.
  routing.confirm(MAX_UNSETTLED);
  for (let i = 0; i < MAX_UNSETTLED + 1; i++) dm.schedule(message(`late${i}`), clock.now + 1);
  clock.advance(clock.now + 1);
  await until(() => routing.seen.length === 2 * MAX_UNSETTLED, 'the next window to fire');
  await settleDown();
  assert.equal(routing.seen.length, 2 * MAX_UNSETTLED, 'the first 3 + MAX_UNSETTLED - 3 of the new ones');
  await dm.close();
  dm = await open(dir, clock, []);
  assert.equal(dm.size, 3 + MAX_UNSETTLED + 1, 'only the late-confirmed window was settled');
  await dm.destroy();
});
