/**
 * Shared pieces of the stream benchmarks: start EventterMQ (own data directory, start-up timed to its
 * `listening` line) and RabbitMQ (../shared/tools/rabbitmq-start.sh, beam.smp pid found), sample a broker's
 * RSS, publish with a sliding confirm window and read a queue with amqplib, the same code for both brokers.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import amqp, { type Channel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';

export const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
// A worktree under /tmp has no ../shared beside it: fall back to the machine's copy.
const RMQ_START = [
  resolve(ROOT, '..', 'shared', 'tools', 'rabbitmq-start.sh'),
  '/work/shared/tools/rabbitmq-start.sh',
].find((p) => fs.existsSync(p)) as string;

export interface Broker {
  kind: 'eventtermq' | 'rabbitmq';
  url: string;
  pid: number;
  /** Data directory (EventterMQ) or RabbitMQ's state directory. */
  dir: string;
  /** Spawn to accepting AMQP, ms. */
  startMs: number;
  stop(): Promise<void>;
}

export interface Eventter extends Broker {
  child: ChildProcess;
  /** The `recovered` log line (its ms, queues, messages). */
  recovered: Record<string, unknown> | undefined;
  exited: Promise<void>;
  /** Signal, wait for exit; the data directory stays. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** The value after `--name` on the command line, or `fallback`. */
export function option<T extends string | undefined>(name: string, fallback: T): string | T {
  const argv = process.argv.slice(2);
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
}

/** Whether `--name` is on the command line. */
export function flag(name: string): boolean {
  return process.argv.slice(2).includes(`--${name}`);
}

export const emit = (o: Record<string, unknown>): void => console.log(JSON.stringify(o));
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const now = () => performance.now();

export function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Starts EventterMQ on ephemeral ports; the data directory is created when not given and kept on kill(). */
export async function startEventter(dataDir?: string, extra: string[] = []): Promise<Eventter> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'bench-streams-')));
  const t0 = now();
  const args = [
    CLI,
    'server',
    '--amqp-port',
    '0',
    '--http-port',
    '0',
    '--mqtt-port',
    '0',
    '--data-dir',
    dir,
    ...extra,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let recovered: Record<string, unknown> | undefined;
  const tail: string[] = [];
  child.stderr?.on('data', (d: Buffer) => tail.push(d.toString()));
  let onEarlyExit: (code: number | null) => void = () => {};
  const port = await new Promise<number>((done, fail) => {
    let pending = '';
    const timer = setTimeout(() => fail(new Error('EventterMQ did not listen within 600 s')), 600_000);
    onEarlyExit = (code) => fail(new Error(`EventterMQ exited (${code}): ${tail.join('').slice(-2000)}`));
    child.once('exit', onEarlyExit);
    child.stdout?.on('data', (d: Buffer) => {
      pending += d.toString();
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        let o: Record<string, unknown>;
        try {
          o = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if (o.msg === 'recovered') recovered = o;
        if (o.msg === 'listening' && o.protocol === 'amqp' && typeof o.port === 'number') {
          clearTimeout(timer);
          done(o.port);
        }
      }
    });
  });
  const startMs = now() - t0;
  child.off('exit', onEarlyExit);
  child.stdout?.removeAllListeners('data');
  child.stdout?.resume();
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const force = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(force);
  };
  return {
    kind: 'eventtermq',
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    pid: child.pid ?? 0,
    dir,
    startMs,
    child,
    recovered,
    exited,
    kill,
    async stop() {
      await kill('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts a fresh RabbitMQ (or, given stateDir and nodeName, restarts one on its kept state). */
export async function startRabbit(
  port: number,
  stateDir?: string,
  nodeName = `benchstreams${process.pid}@localhost`,
): Promise<Broker & { nodeName: string; halt(): Promise<void> }> {
  const dir = stateDir ?? (await mkdtemp(join(tmpdir(), 'bench-rmq-')));
  const t0 = now();
  const child = spawn('bash', [RMQ_START, String(port)], {
    env: { ...process.env, RMQ_STATE_DIR: dir, RMQ_NODENAME: nodeName },
    detached: true,
    stdio: 'ignore',
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  let pid = 0;
  /** Stops the node (SIGTERM to its group), keeps its state. */
  const halt = async () => {
    try {
      process.kill(-(child.pid ?? 0), 'SIGTERM');
    } catch {}
    const force = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {}
    }, 30_000);
    await exited;
    clearTimeout(force);
    for (let i = 0; i < 300 && pid > 0 && alive(pid); i++) await sleep(100);
  };
  let startMs: number;
  try {
    for (;;) {
      if (now() - t0 > 120_000 || child.exitCode !== null) throw new Error('RabbitMQ did not start');
      try {
        const c = await amqp.connect(url);
        c.on('error', () => {});
        await c.close();
        break;
      } catch {
        await sleep(100);
      }
    }
    startMs = now() - t0;
    // beam's command line names its home, which is the state directory.
    const found = execFileSync('pgrep', ['-f', `beam.smp.* -home ${dir} `])
      .toString()
      .trim();
    pid = Number(found.split('\n')[0]);
  } catch (err) {
    await halt();
    if (!stateDir) await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    kind: 'rabbitmq',
    url,
    pid,
    dir,
    startMs,
    nodeName,
    halt,
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** VmRSS and VmHWM of pid in MiB. */
export function rss(pid: number): { rssMiB: number; hwmMiB: number } {
  const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(s)?.[1] ?? Number.NaN);
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
}

/** Samples VmRSS every 100 ms until stopped; returns the peak seen (MiB). */
export function rssSampler(pid: number): () => number {
  let peak = 0;
  const tick = () => {
    try {
      peak = Math.max(peak, rss(pid).rssMiB);
    } catch {}
  };
  tick();
  const timer = setInterval(tick, 100);
  return () => {
    clearInterval(timer);
    tick();
    return peak;
  };
}

/** Bytes of every file under dir (apparent sizes) and how many there are. */
export function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  if (!fs.existsSync(dir)) return { bytes, files };
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    bytes += fs.statSync(join(e.parentPath, e.name)).size;
    files++;
  }
  return { bytes, files };
}

/** Declares a durable queue: a stream (with optional segment size) or a classic queue. */
export async function declare(url: string, queue: string, stream: boolean, segmentBytes = 0): Promise<void> {
  const c = await amqp.connect(url);
  const ch = await c.createChannel();
  const args: Record<string, unknown> = stream ? { 'x-queue-type': 'stream' } : {};
  if (segmentBytes > 0) args['x-stream-max-segment-size-bytes'] = segmentBytes;
  await ch.assertQueue(queue, { durable: true, arguments: args });
  await c.close();
}

/**
 * Publishes n bodies of `size` bytes to queue through the default exchange with confirms, at most `window`
 * unconfirmed (resuming at half), and returns msg/s from the first publish to the last confirm.
 */
export async function publishN(
  url: string,
  queue: string,
  n: number,
  size: number,
  window: number,
  persistent = false,
): Promise<number> {
  const c = await amqp.connect(url);
  const ch: ConfirmChannel = await c.createConfirmChannel();
  const body = Buffer.alloc(size, 120);
  const opts = persistent ? { persistent: true } : {};
  let inflight = 0;
  let failed: Error | undefined;
  let wake: (() => void) | undefined;
  const onConfirm = (err: unknown) => {
    if (err) failed = new Error('publish nacked');
    inflight--;
    if (wake && inflight <= window >> 1) {
      const w = wake;
      wake = undefined;
      w();
    }
  };
  const t0 = now();
  for (let i = 0; i < n; i++) {
    if (failed) throw failed;
    inflight++;
    const ok = ch.sendToQueue(queue, body, opts, onConfirm);
    if (inflight >= window) await new Promise<void>((r) => (wake = r));
    else if (!ok) await new Promise<void>((r) => ch.once('drain', () => r()));
  }
  await ch.waitForConfirms();
  const rate = n / ((now() - t0) / 1000);
  await c.close();
  return rate;
}

/** Publishes without waiting, for `ms`, so that a kill -9 lands while appends are in flight. */
export async function publishBurst(url: string, queue: string, size: number, ms: number): Promise<void> {
  const c = await amqp.connect(url);
  c.on('error', () => {});
  const ch: Channel = await c.createChannel();
  ch.on('error', () => {});
  const body = Buffer.alloc(size, 120);
  const end = now() + ms;
  while (now() < end) {
    if (!ch.sendToQueue(queue, body, { persistent: true }))
      await Promise.race([new Promise((r) => ch.once('drain', r)), sleep(50)]);
    else if (Math.random() < 0.01) await sleep(0);
  }
}

/**
 * One consumer on its own connection reads n messages of queue from `offset` (prefetch, multiple-ack every
 * 100); resolves with the time the n-th arrived. Rejects after timeoutMs.
 */
export async function readN(
  url: string,
  queue: string,
  n: number,
  prefetch: number,
  offset: string | number,
  timeoutMs: number,
): Promise<number> {
  const c = await amqp.connect(url);
  const ch = await c.createChannel();
  await ch.prefetch(prefetch);
  let got = 0;
  const done = new Promise<number>((resolveDone, fail) => {
    const timer = setTimeout(() => fail(new Error(`read ${got} of ${n} within ${timeoutMs} ms`)), timeoutMs);
    ch.consume(
      queue,
      (m: ConsumeMessage | null) => {
        if (!m) return;
        got++;
        if (got % 100 === 0 || got === n) ch.ack(m, true);
        if (got === n) {
          clearTimeout(timer);
          resolveDone(now());
        }
      },
      { noAck: false, arguments: { 'x-stream-offset': offset } },
    );
  });
  try {
    return await done;
  } finally {
    await c.close().catch(() => {});
  }
}
