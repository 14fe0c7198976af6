/**
 * Two builds of EventterMQ (e.g. before and after a refactoring), each against RabbitMQ, alternating:
 * every round runs `node <build>/dist/bench/compare-brokers.js --rounds 1` for each build (the order
 * flips every round), so each build gets its own fresh EventterMQ and fresh RabbitMQ per round.
 * Prints one JSON line per build and round, then per figure: medians of each build, its ratio against
 * the RabbitMQ runs measured with it, and after / before.
 *
 *   node dist/bench/compare-builds.js --before /tmp/bench-before --after /tmp/bench-head [--rounds 3]
 *     [--scenarios e2e] [--amqplib-messages 100000]
 * Each build directory needs node_modules (a symlink will do) and a built dist/.
 */
import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { emit, median, option } from './stream-brokers.js';

const run = promisify(execFile);
const opt = (name: string, fallback?: string) => option(name, fallback);
const builds = { before: opt('before'), after: opt('after') } as Record<string, string>;
if (!builds.before || !builds.after) throw new Error('usage: --before DIR --after DIR');
const rounds = Number(opt('rounds', '3'));
const scenarios = opt('scenarios', 'e2e') as string;
const amqplibMessages = opt('amqplib-messages', '100000') as string;

type Figures = Record<string, number>;
const results: Record<string, { eventtermq: Figures[]; rabbitmq: Figures[] }> = {
  before: { eventtermq: [], rabbitmq: [] },
  after: { eventtermq: [], rabbitmq: [] },
};

for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? ['before', 'after'] : ['after', 'before'];
  for (const name of order) {
    const dir = builds[name];
    const out = join(tmpdir(), `compare-builds-${process.pid}-${name}-${round}.json`);
    const args = [join(dir, 'dist/bench/compare-brokers.js'), '--rounds', '1', '--scenarios', scenarios];
    await run('node', [...args, '--amqplib-messages', amqplibMessages, '--out', out], {
      cwd: dir,
      timeout: 1_800_000,
    });
    const r = JSON.parse(await readFile(out, 'utf8')) as {
      results: { eventtermq: Figures[]; rabbitmq: Figures[] };
    };
    await rm(out, { force: true });
    results[name].eventtermq.push(r.results.eventtermq[0] ?? {});
    results[name].rabbitmq.push(r.results.rabbitmq[0] ?? {});
    emit({
      round: round + 1,
      build: name,
      eventtermq: r.results.eventtermq[0],
      rabbitmq: r.results.rabbitmq[0],
    });
  }
}

const keys = [...new Set(results.after.eventtermq.flatMap((f) => Object.keys(f)))].sort();
const runsOf = (fs: Figures[], k: string) => fs.map((f) => f[k]).filter((v) => v !== undefined);
for (const k of keys) {
  const row: Record<string, unknown> = { figure: k };
  const med: Record<string, number> = {};
  for (const name of ['before', 'after']) {
    const e = runsOf(results[name].eventtermq, k);
    const r = runsOf(results[name].rabbitmq, k);
    med[name] = median(e);
    row[name] = {
      eventtermq: med[name],
      rabbitmq: median(r),
      ratio: +(median(e) / median(r)).toFixed(2),
      runs: [e, r],
    };
  }
  row.afterOverBefore = +(med.after / med.before).toFixed(3);
  emit(row);
}
