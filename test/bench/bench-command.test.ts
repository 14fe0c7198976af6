import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runBenchCommand } from '../../src/bench/bench-command.js';
import type { BenchReport } from '../../src/bench/bench-runner.js';
import { type LocalBroker, startLocalBroker } from '../../src/bench/local-broker.js';

const external = process.env.EVENTTER_TEST_AMQP_URL;
let broker: LocalBroker | undefined;
let url: string;

function capture(): {
  io: Parameters<typeof runBenchCommand>[1] & object;
  out: () => string;
  err: () => string;
} {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } },
    out: () => out,
    err: () => err,
  };
}

/** Figures every scenario must report. */
const REQUIRED: Record<string, string[]> = {
  e2e: ['deliverMsgPerSec', 'publishMsgPerSec', 'latencyP50Ms', 'latencyP99Ms', 'latencyP999Ms'],
  persistent: [
    'publishMsgPerSec',
    'drainMsgPerSec',
    'concurrentPublishMsgPerSec',
    'concurrentDeliverMsgPerSec',
  ],
  large: ['kb4DeliverMsgPerSec', 'kb4MiBPerSec', 'mb1DeliverMsgPerSec', 'mb1MiBPerSec'],
  fanout: ['publishMsgPerSec', 'deliverMsgPerSec', 'latencyP99Ms'],
  queues: ['publishMsgPerSec', 'deliverMsgPerSec', 'latencyP99Ms'],
  latency: ['achievedMsgPerSec', 'latencyP50Ms', 'latencyP99Ms', 'latencyP999Ms'],
  backlog: [
    'messages',
    'fillMsgPerSec',
    'drainMsgPerSec',
    'fillFirst20PctMsgPerSec',
    'fillLast20PctMsgPerSec',
  ],
};

describe('eventter bench', () => {
  before(async () => {
    if (external === undefined) {
      broker = await startLocalBroker();
      url = broker.url;
    } else {
      url = external;
    }
  });

  after(async () => {
    await broker?.stop();
  });

  it('runs every scenario with tiny counts and reports every figure as a positive number', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bench-test-'));
    try {
      const c = capture();
      const svg = join(dir, 'rates.svg');
      const args = [
        '--url',
        url,
        '--messages',
        '200',
        '--backlog',
        '400',
        '--rate',
        '2000',
        '--json',
        '--svg',
        svg,
      ];
      if (broker !== undefined) args.push('--broker-pid', String(broker.pid));
      const code = await runBenchCommand(args, c.io);
      const report = JSON.parse(c.out()) as BenchReport;
      assert.equal(code, 0, JSON.stringify(report.scenarios.map((s) => [s.id, s.error])));
      assert.deepEqual(
        report.scenarios.map((s) => s.id),
        Object.keys(REQUIRED),
      );
      assert.ok(!report.url.includes('guest:guest'), 'the password is redacted');
      for (const s of report.scenarios) {
        assert.equal(s.ok, true, `${s.id}: ${s.error}`);
        for (const name of REQUIRED[s.id]) assert.ok(name in s.figures, `${s.id} lacks ${name}`);
        for (const [name, value] of Object.entries(s.figures)) {
          assert.ok(Number.isFinite(value) && value > 0, `${s.id}.${name} = ${value}`);
        }
        assert.ok(s.series.length > 0, `${s.id} has rate series`);
      }
      if (broker !== undefined) {
        const backlog = report.scenarios.find((s) => s.id === 'backlog');
        assert.ok((backlog?.figures.brokerPeakRssMiB ?? 0) > 0, 'local broker memory is reported');
      }
      const chart = await readFile(svg, 'utf8');
      assert.match(chart, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.ok((chart.match(/<polyline /g) ?? []).length >= report.scenarios.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prints a summary table by default', async () => {
    const c = capture();
    const code = await runBenchCommand(['--url', url, '--scenarios', 'e2e', '--messages', '100', '-q'], c.io);
    assert.equal(code, 0);
    assert.match(c.out(), /e2e\s+deliver\s+[\d,]+ msg\/s/);
    assert.equal(c.err(), '');
  });

  it('answers --help with exit code 0 and bad usage with 2', async () => {
    const help = capture();
    assert.equal(await runBenchCommand(['--help'], help.io), 0);
    assert.match(help.out(), /--scenarios <list>/);
    assert.match(help.out(), /backlog/);
    const bad = capture();
    assert.equal(await runBenchCommand(['--scenarios', 'nope'], bad.io), 2);
    assert.match(bad.err(), /unknown scenario "nope"/);
    assert.equal(await runBenchCommand(['--messages', '-5'], capture().io), 2);
  });

  it('exits 1 when the broker cannot be reached', async () => {
    const c = capture();
    assert.equal(await runBenchCommand(['--url', 'amqp://guest:guest@127.0.0.1:1', '-q'], c.io), 1);
    assert.match(c.err(), /cannot reach/);
  });
});
