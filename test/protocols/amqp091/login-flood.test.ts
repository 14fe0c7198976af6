import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Channel, ChannelModel } from 'amqplib';
import { hashPassword } from '../../../src/core/password-hash.js';
import { connect, openChannel } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';
import { nonLoopbackAddress } from '../../helpers/in-process-broker.js';
import type { FloodReport } from '../../helpers/login-flood.js';

/**
 * 10,000 failed logins from one address, each with a password never tried before (so each would need its own
 * scrypt check), against a broker in its own process: every attempt gets a clear 403, the broker stays up, a
 * connected client's round trips stay fast, and a legitimate login from another address gets its turn at the
 * login gate. Latencies are reported, not tightly asserted (the machine is shared).
 */

const ATTEMPTS = 10_000;
const PARALLEL = 50;
/** Round trips are measured back to back for this long before the flood, as they are during it. */
const BASELINE_MS = 3_000;
/** Generous bounds: a stalled broker or a starved thread pool takes seconds, not these. */
const MAX_P99_DURING_FLOOD_MS = 2_000;
const MAX_LEGIT_LOGIN_MS = 15_000;

let broker: BrokerUnderTest | undefined;
let configDir: string;

before(async () => {
  if (isExternalBroker()) return;
  configDir = await mkdtemp(join(tmpdir(), 'eventter-flood-'));
  const config = join(configDir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      users: [
        { name: 'flood', passwordHash: await hashPassword('flood-pw'), vhosts: ['/'] },
        { name: 'probe', password: 'probe-pw', vhosts: ['/'] },
      ],
    }),
  );
  broker = await startBroker({ extraArgs: ['--config', config] });
});

after(async () => {
  await broker?.stop();
  if (configDir) await rm(configDir, { recursive: true, force: true });
});

const url = (user: string, password: string, host = '127.0.0.1') =>
  `amqp://${user}:${password}@${host}:${broker!.amqpPort}/`;

/** Publish one message, wait for its delivery: the round trip a connected client sees, in ms. */
async function roundTrip(ch: Channel, queue: string, waiting: { next?: () => void }): Promise<number> {
  const started = performance.now();
  const delivered = new Promise<void>((resolve) => {
    waiting.next = resolve;
  });
  ch.sendToQueue(queue, Buffer.from('ping'));
  await delivered;
  return performance.now() - started;
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const summary = (samples: number[]) =>
  `n=${samples.length} p50=${percentile(samples, 50).toFixed(2)} ms p99=${percentile(samples, 99).toFixed(2)} ms max=${Math.max(...samples).toFixed(2)} ms`;

function runFlood(port: number): Promise<FloodReport> {
  const script = fileURLToPath(new URL('../../helpers/login-flood.js', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, String(port), String(ATTEMPTS), String(PARALLEL), 'flood'],
      { timeout: 600_000 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(JSON.parse(stdout)),
    );
  });
}

test('10,000 failed logins from one address: every one refused with 403, the broker stays responsive', async (t) => {
  if (broker === undefined) {
    t.skip('needs a broker this test starts (EVENTTER_TEST_AMQP_URL points elsewhere)');
    return;
  }
  const probe: ChannelModel = await connect(url('probe', 'probe-pw'));
  try {
    const ch = await openChannel(probe);
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const waiting: { next?: () => void } = {};
    await ch.consume(queue, () => waiting.next?.(), { noAck: true });

    const baseline: number[] = [];
    const baselineEnd = performance.now() + BASELINE_MS;
    while (performance.now() < baselineEnd) baseline.push(await roundTrip(ch, queue, waiting));

    let flooding = true;
    const flood = runFlood(broker.amqpPort).finally(() => {
      flooding = false;
    });
    const during: number[] = [];
    let legitLoginMs: number | undefined;
    const remote = nonLoopbackAddress();
    const legitLogin = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // well into the flood
      if (remote === undefined || !flooding) return;
      const started = performance.now();
      const conn = await connect(url('flood', 'flood-pw', remote));
      legitLoginMs = performance.now() - started;
      await conn.close();
    })();
    while (flooding) during.push(await roundTrip(ch, queue, waiting));
    const report = await flood;
    await legitLogin;

    t.diagnostic(`round trips without flood: ${summary(baseline)}`);
    t.diagnostic(`round trips during flood:  ${summary(during)}`);
    t.diagnostic(`flood: ${JSON.stringify(report)} (${Math.round((ATTEMPTS * 1000) / report.ms)} logins/s)`);
    t.diagnostic(
      legitLoginMs === undefined
        ? 'legitimate login during the flood: not measured (no non-loopback address, or the flood ended first)'
        : `legitimate scrypt login from ${remote} during the flood: ${legitLoginMs.toFixed(0)} ms`,
    );

    assert.deepEqual(report.byReplyCode, { 403: ATTEMPTS }, 'every failed login is told 403 ACCESS_REFUSED');
    assert.equal(report.droppedWithoutClose + report.errors, 0);
    assert.equal(broker.process?.exitCode, null, 'the broker is still running');
    assert.ok(during.length > 0, 'the connected client kept getting round trips through the flood');
    assert.ok(
      percentile(during, 99) < MAX_P99_DURING_FLOOD_MS,
      `p99 round trip during the flood ${percentile(during, 99).toFixed(0)} ms`,
    );
    if (legitLoginMs !== undefined)
      assert.ok(legitLoginMs < MAX_LEGIT_LOGIN_MS, `legit login took ${legitLoginMs} ms`);
    // And afterwards the flooded user logs in as usual.
    const after = await connect(url('flood', 'flood-pw'));
    await after.close();
  } finally {
    await probe.close().catch(() => {});
  }
});
