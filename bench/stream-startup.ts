/**
 * Start-up time of an EventterMQ data directory holding N messages in one stream (or one classic durable
 * queue, --kind classic, persistent messages), through the real server:
 *   fill N × --size bytes with amqplib (confirms, window --fill-window), kill -9 right after, then --runs cycles of
 *     start (timed: "after kill -9") → SIGTERM → start (timed: "after SIGTERM") → a 0.3 s publish burst → kill -9
 *   The burst makes every kill -9 land while appends are in flight; it adds a few thousand messages.
 * Timed: spawn to the AMQP `listening` log line (wall ms), and the `ms` of the `recovered` log line; the broker's
 * VmRSS is read at `listening`.
 * Page cache: warm (the files were just written or read), unless --cold (drop_caches before each start; root).
 * --rabbitmq also times RabbitMQ's restart on the same stream size (stop with SIGTERM, start, first AMQP accept).
 *
 *   node dist/bench/stream-startup.js [--messages 1000000] [--size 256] [--kind stream|classic] [--runs 3]
 *     [--segment-bytes N (x-stream-max-segment-size-bytes; default the broker's)] [--fill-window 5000]
 *     [--cold] [--rabbitmq] [--rabbitmq-port 5690] [--keep]
 */
import { writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  declare,
  dirBytes,
  emit,
  flag,
  median,
  option,
  publishBurst,
  publishN,
  rss,
  startEventter,
  startRabbit,
} from './stream-brokers.js';

const opt = option;
const N = Number(opt('messages', '1000000'));
const size = Number(opt('size', '256'));
const kind = opt('kind', 'stream');
const runs = Number(opt('runs', '3'));
const segmentBytes = Number(opt('segment-bytes', '0'));
const fillWindow = Number(opt('fill-window', '5000'));
const cold = flag('cold');
const keep = flag('keep');
const QUEUE = `bench-${kind}`;
const stream = kind === 'stream';

function dropCaches(): void {
  if (cold) writeFileSync('/proc/sys/vm/drop_caches', '3');
}

async function eventter(): Promise<void> {
  let b = await startEventter();
  const dir = b.dir;
  await declare(b.url, QUEUE, stream, segmentBytes);
  const fillRate = await publishN(b.url, QUEUE, N, size, fillWindow, !stream);
  await b.kill('SIGKILL');
  const disk = dirBytes(join(dir, stream ? 'streams' : 'queues'));
  emit({ broker: 'eventtermq', kind, messages: N, size, fillMsgPerSec: Math.round(fillRate), ...disk });
  const timings: Record<string, { startMs: number[]; recoveredMs: number[]; rssMiB: number[] }> = {
    'kill -9': { startMs: [], recoveredMs: [], rssMiB: [] },
    SIGTERM: { startMs: [], recoveredMs: [], rssMiB: [] },
  };
  const record = (after: string) => {
    const rec = b.recovered ?? {};
    const rssMiB = Math.round(rss(b.pid).rssMiB);
    timings[after].startMs.push(b.startMs);
    timings[after].recoveredMs.push(Number(rec.ms));
    timings[after].rssMiB.push(rssMiB);
    emit({
      broker: 'eventtermq',
      kind,
      after,
      startMs: Math.round(b.startMs),
      recovered: rec.ms,
      messages: rec.messages,
      rssMiB,
    });
  };
  try {
    for (let r = 0; r < runs; r++) {
      dropCaches();
      b = await startEventter(dir);
      record('kill -9');
      await b.kill('SIGTERM');
      dropCaches();
      b = await startEventter(dir);
      record('SIGTERM');
      await publishBurst(b.url, QUEUE, size, 300);
      await b.kill('SIGKILL');
    }
  } finally {
    await b.kill('SIGKILL');
    if (!keep) await rm(dir, { recursive: true, force: true });
    else emit({ kept: dir });
  }
  for (const [after, t] of Object.entries(timings)) {
    emit({
      figure: `eventtermq ${kind} start-up after ${after}`,
      messages: N,
      size,
      cache: cold ? 'cold' : 'warm',
      startMs: Math.round(median(t.startMs)),
      recoveredMs: median(t.recoveredMs),
      rssMiB: median(t.rssMiB),
      runs: t.startMs.map(Math.round),
      recoveredRuns: t.recoveredMs,
      rssRuns: t.rssMiB,
    });
  }
}

async function rabbitmq(): Promise<void> {
  const port = Number(opt('rabbitmq-port', '5690'));
  const nodeName = `benchstartup${process.pid}@localhost`;
  let b = await startRabbit(port, undefined, nodeName);
  const dir = b.dir;
  try {
    await declare(b.url, QUEUE, stream, segmentBytes);
    const fillRate = await publishN(b.url, QUEUE, N, size, fillWindow, !stream);
    emit({ broker: 'rabbitmq', kind, messages: N, size, fillMsgPerSec: Math.round(fillRate) });
    const starts: number[] = [];
    for (let r = 0; r < runs; r++) {
      await b.halt();
      dropCaches();
      b = await startRabbit(port, dir, nodeName);
      starts.push(b.startMs);
      emit({ broker: 'rabbitmq', kind, after: 'SIGTERM', startMs: Math.round(b.startMs) });
    }
    emit({
      figure: `rabbitmq ${kind} start-up after SIGTERM`,
      messages: N,
      size,
      startMs: Math.round(median(starts)),
      runs: starts.map(Math.round),
    });
  } finally {
    await b.stop();
  }
}

await eventter();
if (flag('rabbitmq')) await rabbitmq();
