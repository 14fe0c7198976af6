/**
 * Memory for a delayed backlog: schedules N delayed messages (256 B bodies, due in 1 h) into a DelayedMessages
 * over a real durable QueueStore with fsync off, and prints process RSS / heap / array-buffer memory before and
 * after, and bytes per delayed message. Then moves a virtual clock past the due time and measures how fast the
 * backlog is fired (read back, handed over, settled).
 * Usage: node --expose-gc dist/bench/delayed-backlog.js [messages=1000000] [perTick=10000]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeBasicProperties } from '../src/codec/basic-properties.js';
import { DelayedMessages } from '../src/core/delayed-messages.js';
import { Message } from '../src/core/message.js';
import { GroupCommit } from '../src/store/group-commit.js';
import { QueueStore } from '../src/store/queue-store.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const total = Number(args[0] ?? 1_000_000);
const perTick = Number(args[1] ?? 10_000);
const HOUR_MS = 3_600_000;
const MiB = 1024 * 1024;

interface Snapshot {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
}

function snapshot(): Snapshot {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function main(): Promise<void> {
  if (!(globalThis as { gc?: unknown }).gc) console.warn('run with --expose-gc for stable heap figures');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-delayed-backlog-'));
  const commit = new GroupCommit({ fsync: false });
  const store = await QueueStore.open({ dir, commit, fsync: false, durable: true });
  let clock = Date.now();
  // The timer is armed for 1 h ahead; keep its callback so the drain phase can fire it without waiting.
  let timerCb: (() => void) | null = null;
  let fired = 0;
  let target = Number.POSITIVE_INFINITY;
  let done: () => void = () => {};
  const dm = await DelayedMessages.open({
    store,
    now: () => clock,
    timers: {
      setTimeout: (cb) => {
        timerCb = cb;
        return 1;
      },
      clearTimeout: () => {
        timerCb = null;
      },
    },
    onDue: () => {
      if (++fired === target) done();
      return undefined;
    },
    onError: (err) => console.error('delayed messages error:', err.message),
  });

  const properties = encodeBasicProperties({ deliveryMode: 2, headers: { 'x-delay': HOUR_MS } });
  const message = Message.fromPublish('delayed', 'jobs', properties, Buffer.alloc(256, 7), clock);

  const before = snapshot();
  const start = process.hrtime.bigint();
  for (let scheduled = 0; scheduled < total; ) {
    const n = Math.min(perTick, total - scheduled);
    for (let i = 1; i < n; i++) dm.schedule(message, clock + HOUR_MS);
    scheduled += n;
    // Wait for the batch to reach the file so unwritten chunks do not pile up in memory.
    await new Promise<void>((resolve, reject) =>
      dm.schedule(message, clock + HOUR_MS, (err) => (err ? reject(err) : resolve())),
    );
  }
  const scheduleSecs = Number(process.hrtime.bigint() - start) / 1e9;
  await turn();
  const after = snapshot();
  const held = dm.size;

  const row = (name: string, b: number, a: number) =>
    console.log(
      `${name.padEnd(14)} ${(b / MiB).toFixed(1).padStart(9)} MiB -> ${(a / MiB).toFixed(1).padStart(9)} MiB` +
        `   +${((a - b) / held).toFixed(1)} B/message`,
    );
  console.log(`delayed backlog: ${held} messages (256 B body, due in 1 h), store ${dir}, fsync off`);
  console.log(`scheduled in ${scheduleSecs.toFixed(2)} s (${Math.round(held / scheduleSecs)} msg/s)`);
  row('rss', before.rss, after.rss);
  row('heapUsed', before.heapUsed, after.heapUsed);
  row('arrayBuffers', before.arrayBuffers, after.arrayBuffers);
  const grown = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
  console.log(`heap + arrayBuffers: ${(grown / held).toFixed(1)} B per delayed message`);
  console.log(`due-time heap: ${dm.memoryBytes} B (${(dm.memoryBytes / held).toFixed(1)} B/message)`);
  console.log(`on disk: ${(store.sizeBytes / MiB).toFixed(1)} MiB`);

  // Drain: an hour passes; fire the single timer and time the whole backlog going out.
  const drainedAll = new Promise<void>((resolve) => {
    done = resolve;
  });
  target = held;
  clock += HOUR_MS + 1;
  const drainStart = process.hrtime.bigint();
  const cb = timerCb as (() => void) | null;
  if (!cb) throw new Error('no timer armed');
  cb();
  await drainedAll;
  await dm.whenIdle();
  const drainSecs = Number(process.hrtime.bigint() - drainStart) / 1e9;
  console.log(`fired ${fired} in ${drainSecs.toFixed(2)} s (${Math.round(fired / drainSecs)} msg/s)`);
  await dm.destroy();
  await commit.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
