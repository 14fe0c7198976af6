/**
 * Measures EventterMQ and RabbitMQ alternately on this machine and prints medians and ratios, the method
 * BENCHMARKS.md uses. Each round starts a fresh broker of each kind (fresh data directory / fresh RabbitMQ
 * state), runs the amqplib probe (../shared/tools/amqp-bench.mjs) and `eventter bench` against it, stops it.
 * Brokers alternate which goes first so drift on a shared machine hits both alike.
 *
 *   node dist/bench/compare-brokers.js [--rounds 3] [--scenarios e2e,persistent,latency] [--bench-args "..."]
 *        [--amqplib-messages 100000] [--rabbitmq-port 5690] [--out results.json]
 *
 * RabbitMQ comes from Debian's rabbitmq-server, started with ../shared/tools/rabbitmq-start.sh.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startLocalBroker } from '../src/bench/local-broker.js';

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const SHARED_TOOLS = resolve(ROOT, '..', 'shared', 'tools');
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

interface Args {
  rounds: number;
  scenarios: string;
  benchArgs: string[];
  amqplibMessages: number;
  rabbitmqPort: number;
  out: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  return {
    rounds: Number(get('rounds') ?? 3),
    scenarios: get('scenarios') ?? 'e2e,persistent,large,fanout,queues,latency',
    benchArgs: (get('bench-args') ?? '').split(' ').filter(Boolean),
    amqplibMessages: Number(get('amqplib-messages') ?? 100_000),
    rabbitmqPort: Number(get('rabbitmq-port') ?? 5690),
    out: get('out'),
  };
}

interface RunningBroker {
  url: string;
  pid: number | undefined;
  stop(): Promise<void>;
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((done) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        done(true);
      });
      s.on('error', () => done(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
}

async function startRabbitMq(port: number, round: number): Promise<RunningBroker> {
  const state = await mkdtemp(join(tmpdir(), 'rmq-compare-'));
  const nodeName = `rabbitcmp${round}@localhost`;
  const child: ChildProcess = spawn('bash', [join(SHARED_TOOLS, 'rabbitmq-start.sh'), String(port)], {
    env: { ...process.env, RMQ_STATE_DIR: state, RMQ_NODENAME: nodeName },
    detached: true,
    stdio: 'ignore',
  });
  await waitForPort(port, 60_000);
  let pid: number | undefined;
  try {
    const { stdout } = await run('pgrep', ['-f', `beam.smp.*${nodeName.split('@')[0]}`]);
    pid = Number(stdout.trim().split('\n')[0]) || undefined;
  } catch {
    pid = undefined;
  }
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    pid,
    async stop() {
      try {
        process.kill(-(child.pid ?? 0), 'SIGTERM');
      } catch {}
      await new Promise((r) => setTimeout(r, 3000));
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {}
      await rm(state, { recursive: true, force: true });
    },
  };
}

async function startEventter(): Promise<RunningBroker> {
  const b = await startLocalBroker();
  return { url: b.url, pid: b.pid, stop: () => b.stop() };
}

type Figures = Record<string, number>;

async function measure(broker: RunningBroker, args: Args): Promise<Figures> {
  const figures: Figures = {};
  const probe = join(SHARED_TOOLS, 'amqp-bench.mjs');
  if (existsSync(probe)) {
    const { stdout } = await run('node', [probe, broker.url, String(args.amqplibMessages), '256', '1'], {
      cwd: ROOT,
      timeout: 600_000,
    });
    const line = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    for (const [k, v] of Object.entries(line))
      if (typeof v === 'number' && k !== 'n' && k !== 'size') figures[`amqplib.${k}`] = v;
  }
  const jsonFile = join(tmpdir(), `bench-${process.pid}-${Date.now()}.json`);
  const benchArgv = [
    CLI,
    'bench',
    '--url',
    broker.url,
    '--scenarios',
    args.scenarios,
    '--json',
    jsonFile,
    '-q',
  ];
  if (broker.pid !== undefined) benchArgv.push('--broker-pid', String(broker.pid));
  await run('node', [...benchArgv, ...args.benchArgs], { cwd: ROOT, timeout: 1_800_000 }).catch((err) => {
    process.stderr.write(`eventter bench failed: ${(err as Error).message}\n`);
  });
  if (existsSync(jsonFile)) {
    const report = JSON.parse(await readFile(jsonFile, 'utf8')) as {
      scenarios: Array<{ id: string; ok: boolean; figures: Record<string, number> }>;
    };
    for (const s of report.scenarios) {
      if (!s.ok) continue;
      for (const [k, v] of Object.entries(s.figures)) if (typeof v === 'number') figures[`${s.id}.${k}`] = v;
    }
    await rm(jsonFile, { force: true });
  }
  return figures;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const results: Record<'eventtermq' | 'rabbitmq', Figures[]> = { eventtermq: [], rabbitmq: [] };
  for (let round = 0; round < args.rounds; round++) {
    const order: Array<'eventtermq' | 'rabbitmq'> =
      round % 2 === 0 ? ['eventtermq', 'rabbitmq'] : ['rabbitmq', 'eventtermq'];
    for (const kind of order) {
      process.stderr.write(`round ${round + 1}/${args.rounds}: ${kind}\n`);
      const broker =
        kind === 'eventtermq' ? await startEventter() : await startRabbitMq(args.rabbitmqPort, round);
      try {
        results[kind].push(await measure(broker, args));
      } finally {
        await broker.stop();
      }
    }
  }
  const keys = [
    ...new Set([...results.eventtermq, ...results.rabbitmq].flatMap((f) => Object.keys(f))),
  ].sort();
  const lines = ['| figure | EventterMQ (median) | RabbitMQ 3.10 (median) | ratio |', '|---|---:|---:|---:|'];
  const summary: Record<string, { eventtermq: number; rabbitmq: number; ratio: number; runs: number[][] }> =
    {};
  for (const key of keys) {
    const e = results.eventtermq.map((f) => f[key]).filter((v) => v !== undefined);
    const r = results.rabbitmq.map((f) => f[key]).filter((v) => v !== undefined);
    if (e.length === 0 || r.length === 0) continue;
    const me = median(e);
    const mr = median(r);
    const ratio = mr === 0 ? Number.NaN : me / mr;
    summary[key] = { eventtermq: me, rabbitmq: mr, ratio, runs: [e, r] };
    const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));
    lines.push(`| ${key} | ${fmt(me)} | ${fmt(mr)} | ${Number.isFinite(ratio) ? ratio.toFixed(2) : '-'} |`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  if (args.out)
    await writeFile(args.out, `${JSON.stringify({ rounds: args.rounds, summary, results }, null, 2)}\n`);
}

await main();
