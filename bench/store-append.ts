/**
 * Persistent append throughput of the store: 256 B records appended in per-tick batches, each with a
 * whenDurable callback (as publisher confirms would), real fdatasync through GroupCommit.
 * Usage: node dist/bench/store-append.js [records=500000] [batchPerTick=2000] [--no-fsync]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GroupCommit } from '../src/store/group-commit.js';
import type { NewRecord } from '../src/store/record-format.js';
import { SegmentLog } from '../src/store/segment-log.js';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const total = Number(args[0] ?? 500_000);
const perTick = Number(args[1] ?? 2_000);
const fsync = !process.argv.includes('--no-fsync');
const maxUnconfirmed = 50_000;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-store-append-'));
  let syncs = 0;
  const commit = new GroupCommit({
    fsync,
    syncFn: (fd, cb) => {
      syncs++;
      fs.fdatasync(fd, cb);
    },
  });
  const log = await SegmentLog.open({ dir, commit, fsync });
  // 256 B encoded record: 40 B framing + names + properties + body.
  const rec: NewRecord = {
    timestamp: Date.now(),
    persistent: true,
    expiresAt: 0,
    priority: 0,
    exchange: 'bench',
    routingKey: 'bench.key',
    properties: Buffer.alloc(16, 1),
    body: Buffer.alloc(256 - 40 - 5 - 9 - 16, 2),
  };
  let appended = 0;
  let confirmed = 0;
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve, reject) => {
    const onDurable = (err: Error | null) => {
      if (err) return reject(err);
      if (++confirmed === total) resolve();
      else if (appended - confirmed < maxUnconfirmed / 2) pump();
    };
    let pumping = false;
    const pump = () => {
      if (pumping) return;
      pumping = true;
      setImmediate(() => {
        pumping = false;
        const n = Math.min(perTick, total - appended, maxUnconfirmed - (appended - confirmed));
        for (let i = 0; i < n; i++) {
          rec.timestamp = Date.now();
          log.whenDurable(log.append(rec), onDurable);
        }
        appended += n;
        if (appended < total && appended - confirmed < maxUnconfirmed) pump();
      });
    };
    pump();
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const bytes = log.sizeBytes;
  await log.destroy();
  await commit.close();
  console.log(
    `store-append: ${total} x 256 B persistent records, fsync=${fsync}: ` +
      `${Math.round(total / seconds).toLocaleString('en-US')} appends/s, ` +
      `${(bytes / seconds / 1024 / 1024).toFixed(1)} MiB/s, ${syncs} fdatasyncs ` +
      `(${(total / Math.max(syncs, 1)).toFixed(0)} records per sync), ${seconds.toFixed(2)} s`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
