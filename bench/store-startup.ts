/**
 * Start-up cost of a queue's store: fills a directory with N persistent 256 B records across many segments
 * (through QueueStore, as the broker does), closes it, then times, separately,
 *   - SegmentLog.open alone (finding segments, their indexes, scanning what must be scanned), and
 *   - QueueStore.open + recover (the settle log, then the live messages: from the sealed segments' entry tables,
 *     or, in builds before entry tables, by reading every record).
 * Usage: node dist/bench/store-startup.js [records=200000] [--segment-bytes N] [--runs 3] [--cold] [--keep DIR]
 * --cold drops the files from the page cache before each run (GNU dd iflag=nocache; only these files).
 * Written against APIs that 0.1.0 has too, so the same script measures the build before Store v2.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GroupCommit } from '../src/store/group-commit.js';
import { QueueStore } from '../src/store/queue-store.js';
import type { NewRecord } from '../src/store/record-format.js';
import { SegmentLog } from '../src/store/segment-log.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

const positional = process.argv
  .slice(2)
  .filter((a, i, all) => !a.startsWith('--') && !all[i - 1]?.startsWith('--'));
const total = Number(positional[0] ?? 200_000);
const segmentMaxBytes = flag('--segment-bytes', 4 * 1024 * 1024);
const runs = flag('--runs', 3);
const cold = process.argv.includes('--cold');
const keepAt = process.argv.indexOf('--keep');
const commit = new GroupCommit({ fsync: false });

// 256 B encoded: 40 B framing + exchange + routing key + properties + body.
const rec: NewRecord = {
  timestamp: 0,
  persistent: true,
  expiresAt: 0,
  priority: 0,
  exchange: 'bench',
  routingKey: 'bench.key',
  properties: Buffer.alloc(16, 1),
  body: Buffer.alloc(256 - 40 - 5 - 9 - 16, 2),
};

async function fill(dir: string): Promise<void> {
  const store = await QueueStore.open({ dir, commit, fsync: false, durable: true, segmentMaxBytes });
  await store.recover(() => {});
  const start = Date.now();
  for (let i = 0; i < total; i++) {
    rec.timestamp = start + Math.floor(i / 100);
    store.append(rec);
    if (i % 20_000 === 19_999) await new Promise<void>((r) => store.whenDurable(i, () => r()));
  }
  await store.close();
}

function dropCache(dir: string): void {
  if (!cold) return;
  for (const name of fs.readdirSync(dir)) {
    spawnSync('dd', [`if=${path.join(dir, name)}`, 'iflag=nocache', 'count=0', 'status=none']);
  }
}

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const dir =
    keepAt >= 0 ? process.argv[keepAt + 1] : fs.mkdtempSync(path.join(os.tmpdir(), 'bench-startup-'));
  fs.mkdirSync(dir, { recursive: true });
  const fillStart = process.hrtime.bigint();
  if (!fs.existsSync(path.join(dir, 'settled.log')) && !fs.readdirSync(dir).some((n) => n.endsWith('.seg')))
    await fill(dir);
  const fillMs = ms(fillStart);
  const segments = fs.readdirSync(dir).filter((n) => n.endsWith('.seg')).length;
  const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  // One untimed open first: a first open after an upgrade or fill may still write missing indexes.
  await (await SegmentLog.open({ dir, commit, fsync: false })).close();
  const logOpen: number[] = [];
  const storeOpen: number[] = [];
  let live = 0;
  for (let r = 0; r < runs; r++) {
    dropCache(dir);
    let t = process.hrtime.bigint();
    const log = await SegmentLog.open({ dir, commit, fsync: false });
    logOpen.push(ms(t));
    await log.close();
    dropCache(dir);
    t = process.hrtime.bigint();
    const store = await QueueStore.open({ dir, commit, fsync: false, durable: true, segmentMaxBytes });
    live = 0;
    // Builds before entry tables call back once per record with its offset.
    await store.recover((batch: { count: number } | number) => {
      live += typeof batch === 'number' ? 1 : batch.count;
    });
    storeOpen.push(ms(t));
    await store.close();
  }
  if (live !== total) throw new Error(`recovered ${live} of ${total} records`);
  console.log(
    `store-startup: ${total.toLocaleString('en-US')} x 256 B records, ${segments} segments of ` +
      `${(segmentMaxBytes / 1024 / 1024).toFixed(0)} MiB (${(bytes / 1024 / 1024).toFixed(0)} MiB on disk), ` +
      `${cold ? 'cold' : 'warm'} page cache, median of ${runs}: SegmentLog.open ${median(logOpen).toFixed(1)} ms ` +
      `[${logOpen.map((v) => v.toFixed(1)).join(', ')}], QueueStore.open+recover ${median(storeOpen).toFixed(0)} ms ` +
      `[${storeOpen.map((v) => v.toFixed(0)).join(', ')}] (fill ${(fillMs / 1000).toFixed(1)} s)`,
  );
  if (keepAt < 0) fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
