import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_MESSAGES,
  DelayedMessagesError,
  MAX_TIMER_MS,
} from '../../src/core/delayed-messages.js';
import { Message } from '../../src/core/message.js';
import { tempDir } from '../store/helpers.js';
import { advance, FakeClock, type Fired, message, open, stored } from './delayed-messages-helpers.js';

test('fires by due time, equal due times in publish order, and only when due', async () => {
  const clock = new FakeClock();
  const fired: Fired[] = [];
  const dm = await open(tempDir(), clock, fired);
  const t = clock.now;
  const plan: [string, number][] = [
    ['a', t + 300],
    ['b', t + 100],
    ['c', t + 200],
    ['d', t + 100],
    ['e', t + 300],
    ['f', t + 100],
  ];
  for (const [body, due] of plan) dm.schedule(message(body), due);
  assert.equal(dm.size, 6);
  await advance(clock, dm, t + 99);
  assert.equal(fired.length, 0);
  await advance(clock, dm, t + 150);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['b', 'd', 'f'],
  );
  assert.deepEqual(
    fired.map((f) => f.dueAt),
    [t + 100, t + 100, t + 100],
  );
  await advance(clock, dm, t + 10_000);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['b', 'd', 'f', 'c', 'a', 'e'],
  );
  assert.equal(dm.size, 0);
  assert.equal(clock.pending.size, 0, 'no timer left when nothing is held');
  await dm.destroy();
});

test('the fired message keeps its fields, timestamp and per-message TTL', async () => {
  const clock = new FakeClock();
  const fired: Fired[] = [];
  const dm = await open(tempDir(), clock, fired);
  const original = message('payload', true, {
    priority: 7,
    expiration: '5000',
    headers: { 'x-delay': 2000, tag: 'x' },
    contentType: 'text/plain',
  });
  dm.schedule(original, clock.now + 2000);
  await advance(clock, dm, clock.now + 2000);
  assert.equal(fired.length, 1);
  const m = fired[0].message;
  assert.equal(m.exchange, 'delayed');
  assert.equal(m.routingKey, 'rk');
  assert.equal(m.body.toString(), 'payload');
  assert.deepEqual(m.properties, original.properties);
  assert.equal(m.persistent, true);
  assert.equal(m.priority, 7);
  assert.equal(m.timestamp, 500);
  assert.equal(m.ttl, 5000);
  assert.equal(m.headers?.tag, 'x');
  assert.equal(m.decodedProperties.contentType, 'text/plain');
  await dm.destroy();
});

test('never more than one pending timer, however many messages are held', async () => {
  const clock = new FakeClock();
  const fired: Fired[] = [];
  const dm = await open(tempDir(), clock, fired);
  const t = clock.now;
  const n = 2000;
  const dues: number[] = [];
  for (let i = 0; i < n; i++) {
    // Descending and scattered due times: each earlier one must re-arm rather than add a timer.
    const due = t + 10 + (((n - i) * 7919) % 5000);
    dues.push(due);
    dm.schedule(message(`m${i}`, i % 2 === 0), due);
    assert.ok(clock.pending.size <= 1);
  }
  for (let to = t; to <= t + 6000; to += 250) {
    await advance(clock, dm, to);
    assert.ok(clock.pending.size <= 1);
  }
  assert.equal(clock.maxPending, 1);
  assert.equal(fired.length, n);
  const expected = dues.map((due, i) => ({ due, i })).sort((a, b) => a.due - b.due || a.i - b.i);
  assert.deepEqual(
    fired.map((f) => f.body),
    expected.map((e) => `m${e.i}`),
  );
  await dm.destroy();
});

test('a burst of due messages is handed over in bounded batches', async () => {
  const clock = new FakeClock();
  let perTurn = 0;
  let maxPerTurn = 0;
  let count = 0;
  const dm = await open(tempDir(), clock, [], {
    onDue: () => {
      count++;
      maxPerTurn = Math.max(maxPerTurn, ++perTurn);
      return undefined;
    },
  });
  const n = 3 * BATCH_MAX_MESSAGES + 17;
  for (let i = 0; i < n; i++) dm.schedule(message(`m${i}`, false), clock.now + 1);
  let ticking = true;
  const tick = () => {
    perTurn = 0;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  await advance(clock, dm, clock.now + 1);
  ticking = false;
  assert.equal(count, n);
  assert.ok(maxPerTurn <= BATCH_MAX_MESSAGES, `max per turn ${maxPerTurn}`);
  assert.equal(dm.size, 0);
  await dm.destroy();
});

test('large due messages are handed over at most about 16 MiB per turn, in order', async () => {
  const clock = new FakeClock();
  const body = 1024 * 1024;
  let perTurn = 0;
  let maxPerTurn = 0;
  const seen: number[] = [];
  const dm = await open(tempDir(), clock, [], {
    onDue: (m) => {
      seen.push(m.body.readUInt32BE(0));
      perTurn += m.body.length;
      maxPerTurn = Math.max(maxPerTurn, perTurn);
      return undefined;
    },
  });
  const t = clock.now;
  const n = 40;
  const big = (i: number) => {
    const m = message('', false);
    const b = Buffer.alloc(body);
    b.writeUInt32BE(i, 0);
    return new Message(m.exchange, m.routingKey, m.properties, b, false, 0, -1, m.timestamp);
  };
  // First half: one due time (one dense run, range reads); second half: descending due times (point reads).
  for (let i = 0; i < n; i++) dm.schedule(big(i), i < n / 2 ? t + 1 : t + 2 + (n - i));
  let ticking = true;
  const tick = () => {
    perTurn = 0;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  await advance(clock, dm, t + 1000);
  ticking = false;
  const expected = [...Array.from({ length: n / 2 }, (_, i) => i)];
  for (let i = n - 1; i >= n / 2; i--) expected.push(i);
  assert.deepEqual(seen, expected);
  assert.ok(maxPerTurn <= BATCH_MAX_BYTES + body, `max bytes per turn ${maxPerTurn}`);
  await dm.destroy();
});

test('reopen recovers pending messages; those due while closed fire right after open; settled never return', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  const t = clock.now;
  let fired: Fired[] = [];
  let dm = await open(dir, clock, fired);
  for (let i = 1; i <= 10; i++) await stored(dm, message(`m${i}`), t + i * 100);
  await advance(clock, dm, t + 350);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['m1', 'm2', 'm3'],
  );
  await dm.close();

  // Closed while m4..m7 came due.
  clock.now = t + 720;
  fired = [];
  dm = await open(dir, clock, fired);
  assert.equal(dm.size, 7);
  assert.equal(clock.armed.at(-1), 0, 'armed to fire at once for what came due while closed');
  await advance(clock, dm, clock.now);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['m4', 'm5', 'm6', 'm7'],
  );
  assert.deepEqual(
    fired.map((f) => f.dueAt),
    [t + 400, t + 500, t + 600, t + 700],
  );
  assert.equal(dm.size, 3);
  await dm.close();

  fired = [];
  dm = await open(dir, clock, fired);
  assert.equal(dm.size, 3);
  await advance(clock, dm, t + 2000);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['m8', 'm9', 'm10'],
  );
  await dm.close();

  fired = [];
  dm = await open(dir, clock, fired);
  assert.equal(dm.size, 0);
  assert.equal(clock.pending.size, 0);
  await dm.destroy();
});

test('non-persistent messages in a durable store are not recovered after reopen (the store drops them)', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  let fired: Fired[] = [];
  let dm = await open(dir, clock, fired);
  await stored(dm, message('transient', false), clock.now + 100);
  await stored(dm, message('persistent', true), clock.now + 200);
  assert.equal(dm.size, 2);
  await dm.close();
  fired = [];
  dm = await open(dir, clock, fired);
  assert.equal(dm.size, 1);
  await advance(clock, dm, clock.now + 1000);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['persistent'],
  );
  await dm.destroy();
});

test('a transient store keeps nothing across reopen', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  let dm = await open(dir, clock, [], { durable: false });
  await stored(dm, message('p', true), clock.now + 100);
  await dm.close();
  dm = await open(dir, clock, [], { durable: false });
  assert.equal(dm.size, 0);
  await dm.destroy();
});

test('due times beyond the setTimeout limit are reached in steps', async () => {
  const clock = new FakeClock();
  const fired: Fired[] = [];
  const dm = await open(tempDir(), clock, fired);
  const t = clock.now;
  const due = t + 3 * MAX_TIMER_MS + 5;
  dm.schedule(message('far'), due);
  assert.equal(clock.armed.at(-1), MAX_TIMER_MS);
  await advance(clock, dm, t + MAX_TIMER_MS);
  await advance(clock, dm, t + 2 * MAX_TIMER_MS);
  await advance(clock, dm, t + 3 * MAX_TIMER_MS);
  assert.equal(fired.length, 0);
  assert.equal(clock.armed.at(-1), 5);
  await advance(clock, dm, due);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['far'],
  );
  assert.equal(clock.maxPending, 1);
  await dm.destroy();
});

test('an earlier message re-arms the single timer; a past due time fires at once', async () => {
  const clock = new FakeClock();
  const fired: Fired[] = [];
  const dm = await open(tempDir(), clock, fired);
  const t = clock.now;
  dm.schedule(message('late'), t + 10_000);
  assert.deepEqual(clock.armed, [10_000]);
  dm.schedule(message('later'), t + 20_000);
  assert.deepEqual(clock.armed, [10_000], 'a later message does not touch the timer');
  dm.schedule(message('past'), t - 5);
  assert.deepEqual(clock.armed, [10_000, 0]);
  assert.equal(clock.pending.size, 1);
  await advance(clock, dm, t);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['past'],
  );
  await dm.destroy();
});

test('a promise from onDue defers the settle; a rejected one leaves the message for the next open', async () => {
  const dir = tempDir();
  const clock = new FakeClock();
  const errors: Error[] = [];
  const seen: string[] = [];
  let dm = await open(dir, clock, [], {
    errors,
    onDue: (m) => {
      const body = m.body.toString();
      seen.push(body);
      return body === 'bad' ? Promise.reject(new Error('route failed')) : Promise.resolve();
    },
  });
  await stored(dm, message('good'), clock.now + 10);
  await stored(dm, message('bad'), clock.now + 20);
  await advance(clock, dm, clock.now + 100);
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.deepEqual(seen, ['good', 'bad']);
  assert.deepEqual(
    errors.map((e) => e.message),
    ['route failed'],
  );
  await dm.close();
  const fired: Fired[] = [];
  dm = await open(dir, clock, fired);
  assert.equal(dm.size, 1);
  await advance(clock, dm, clock.now);
  assert.deepEqual(
    fired.map((f) => f.body),
    ['bad'],
  );
  await dm.destroy();
});

test('onDue throwing is reported and does not stop the others', async () => {
  const clock = new FakeClock();
  const errors: Error[] = [];
  const seen: string[] = [];
  const dm = await open(tempDir(), clock, [], {
    errors,
    onDue: (m) => {
      seen.push(m.body.toString());
      if (seen.length === 1) throw new Error('boom');
      return undefined;
    },
  });
  for (const b of ['x', 'y', 'z']) dm.schedule(message(b), clock.now + 1);
  await advance(clock, dm, clock.now + 1);
  assert.deepEqual(seen, ['x', 'y', 'z']);
  assert.equal(errors.length, 1);
  assert.equal(dm.size, 0);
  await dm.destroy();
});

test('onStored reports durability; bad input and use after close raise typed errors', async () => {
  const clock = new FakeClock();
  const dm = await open(tempDir(), clock, []);
  await stored(dm, message('p', true), clock.now + 1);
  await stored(dm, message('t', false), clock.now + 1);
  assert.throws(() => dm.schedule(message('nan'), Number.NaN), DelayedMessagesError);
  assert.equal(dm.size, 2);
  await dm.close();
  assert.throws(() => dm.schedule(message('closed'), clock.now), DelayedMessagesError);
  assert.equal(clock.pending.size, 0, 'close stops the timer');
  await dm.destroy();
});
