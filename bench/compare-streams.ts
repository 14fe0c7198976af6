/**
 * Streams (x-queue-type: stream), EventterMQ against RabbitMQ with the same client (amqplib) and code path.
 * Each round starts a fresh broker of each kind (alternating which goes first) and, on one stream:
 *   append   N bodies with confirms, one publisher, a sliding window of --window unconfirmed (msg/s)
 *   disk     bytes of the stream's files / N, and that minus the body size (overhead per message)
 *   read1    one consumer from `first` to the end, prefetch --prefetch, multiple-ack every 100 (msg/s)
 *   read10   --consumers consumers at once, each on its own connection, each reading all N (aggregate
 *            msg/s), with the broker's peak VmRSS sampled every 100 ms during the phase
 * One JSON line per broker and round, then one per figure with medians and ratio (EventterMQ / RabbitMQ).
 *
 *   node dist/bench/compare-streams.js [--rounds 3] [--messages 500000] [--size 256] [--window 1000]
 *     [--prefetch 1000] [--consumers 10] [--phases append,disk,read1,read10] [--only eventtermq|rabbitmq]
 *     [--rabbitmq-port 5690] [--phase-timeout 600] [--out results.json]
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type Broker,
  declare,
  dirBytes,
  emit,
  median,
  now,
  option,
  publishN,
  readN,
  rss,
  rssSampler,
  startEventter,
  startRabbit,
} from './stream-brokers.js';

const opt = option;
const rounds = Number(opt('rounds', '3'));
const N = Number(opt('messages', '500000'));
const size = Number(opt('size', '256'));
const window = Number(opt('window', '1000'));
const prefetch = Number(opt('prefetch', '1000'));
const consumers = Number(opt('consumers', '10'));
const phases = new Set(opt('phases', 'append,disk,read1,read10').split(','));
const only = opt('only', '');
const rabbitPort = Number(opt('rabbitmq-port', '5690'));
const timeoutMs = Number(opt('phase-timeout', '600')) * 1000;
const out = opt('out', '');
const QUEUE = 'bench-stream';

type Kind = 'eventtermq' | 'rabbitmq';
type Figures = Record<string, number>;

/** Bytes of the stream's files: EventterMQ's streams/ (segments and indexes); for RabbitMQ every directory
 * under its state holding *.segment files (osiris: mnesia/<node>/stream/<queue>/, .segment + .index). */
function streamFiles(b: Broker): { bytes: number; files: number } {
  if (b.kind === 'eventtermq') return dirBytes(join(b.dir, 'streams'));
  const dirs = new Set<string>();
  for (const e of readdirSync(b.dir, { withFileTypes: true, recursive: true }))
    if (e.isFile() && e.name.endsWith('.segment')) dirs.add(e.parentPath);
  let bytes = 0;
  let files = 0;
  for (const d of dirs) {
    const x = dirBytes(d);
    bytes += x.bytes;
    files += x.files;
  }
  return { bytes, files };
}

/** Where an EventterMQ record's bytes go: the fields of the first record of the first segment file. */
function recordBreakdown(dataDir: string): Figures {
  const dir = join(dataDir, 'streams');
  const seg = readdirSync(dir, { recursive: true, withFileTypes: true }).find((e) => e.name.endsWith('.seg'));
  if (!seg) return {};
  const buf = Buffer.alloc(4096);
  const fd = openSync(join(seg.parentPath, seg.name), 'r');
  readSync(fd, buf, 0, buf.length, 20); // records start after the 20 B segment header
  closeSync(fd);
  const length = buf.readUInt32BE(0);
  const exLen = buf[4 + 4 + 8 + 8 + 1 + 8 + 1];
  const rkLen = buf[4 + 4 + 8 + 8 + 1 + 8 + 1 + 1 + exLen];
  const propsLen = buf.readUInt32BE(4 + 4 + 8 + 8 + 1 + 8 + 1 + 1 + exLen + 1 + rkLen);
  return {
    recordBytes: 4 + length,
    recordExchangeBytes: exLen,
    recordRoutingKeyBytes: rkLen,
    recordPropertiesBytes: propsLen,
  };
}

async function measure(b: Broker): Promise<Figures> {
  const f: Figures = { startMs: b.startMs };
  await declare(b.url, QUEUE, true);
  const base = rss(b.pid);
  f.rssIdleMiB = base.rssMiB;
  if (phases.has('append')) {
    f.appendMsgPerSec = await publishN(b.url, QUEUE, N, size, window);
    f.rssAfterAppendMiB = rss(b.pid).rssMiB;
  }
  if (phases.has('disk')) {
    const d = streamFiles(b);
    f.diskBytes = d.bytes;
    f.diskFiles = d.files;
    f.diskBytesPerMsg = d.bytes / N;
    f.diskOverheadPerMsg = d.bytes / N - size;
    if (b.kind === 'eventtermq') Object.assign(f, recordBreakdown(b.dir));
  }
  if (phases.has('read1')) {
    const t0 = now();
    const t1 = await readN(b.url, QUEUE, N, prefetch, 'first', timeoutMs);
    f.read1MsgPerSec = N / ((t1 - t0) / 1000);
  }
  if (phases.has('read10')) {
    const before = rss(b.pid).rssMiB;
    const stopSampling = rssSampler(b.pid);
    const t0 = now();
    const ends = await Promise.all(
      Array.from({ length: consumers }, () => readN(b.url, QUEUE, N, prefetch, 'first', timeoutMs)),
    );
    f.read10MsgPerSec = (consumers * N) / ((Math.max(...ends) - t0) / 1000);
    f.read10SlowestMsgPerSec = N / ((Math.max(...ends) - t0) / 1000);
    f.read10RssBeforeMiB = before;
    f.read10PeakRssMiB = stopSampling();
  }
  f.vmHwmMiB = rss(b.pid).hwmMiB;
  return f;
}

async function main(): Promise<void> {
  const results: Record<Kind, Figures[]> = { eventtermq: [], rabbitmq: [] };
  for (let round = 0; round < rounds; round++) {
    const order: Kind[] = round % 2 === 0 ? ['eventtermq', 'rabbitmq'] : ['rabbitmq', 'eventtermq'];
    for (const kind of order) {
      if (only && only !== kind) continue;
      const broker =
        kind === 'eventtermq'
          ? await startEventter()
          : await startRabbit(rabbitPort, undefined, `benchstreams${process.pid}r${round}@localhost`);
      try {
        const f = await measure(broker);
        results[kind].push(f);
        emit({ round: round + 1, broker: kind, messages: N, size, ...round2(f) });
      } catch (err) {
        emit({ round: round + 1, broker: kind, error: (err as Error).message });
      } finally {
        await broker.stop();
      }
    }
  }
  const keys = [...new Set([...results.eventtermq, ...results.rabbitmq].flatMap((f) => Object.keys(f)))];
  const summary: Record<string, unknown> = {};
  for (const key of keys) {
    const e = results.eventtermq.map((f) => f[key]).filter((v) => v !== undefined);
    const r = results.rabbitmq.map((f) => f[key]).filter((v) => v !== undefined);
    const me = median(e);
    const mr = median(r);
    summary[key] = { eventtermq: me, rabbitmq: mr, ratio: me / mr, runs: [e, r] };
    emit({
      figure: key,
      eventtermq: r2(me),
      rabbitmq: r2(mr),
      ratio: r2(me / mr),
      runs: [e.map(r2), r.map(r2)],
    });
  }
  if (out)
    await writeFile(out, `${JSON.stringify({ N, size, window, prefetch, consumers, summary }, null, 2)}\n`);
}

const r2 = (v: number) => (Number.isFinite(v) ? Math.round(v * 100) / 100 : v);
const round2 = (f: Figures) => Object.fromEntries(Object.entries(f).map(([k, v]) => [k, r2(v)]));

await main();
