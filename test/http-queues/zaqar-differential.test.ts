import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Observation } from '../differential/scenario.js';
import type { BrokerUnderTest } from '../helpers/broker-under-test.js';
import { missingSystemPackage } from '../helpers/system-packages.js';
import { startZaqar, type Zaqar, zaqarUnavailableReason } from '../helpers/zaqar.js';
import { zaqarScenarios } from './scenarios/index.js';
import { Normaliser, type ZaqarScenario } from './zaqar-scenario.js';
import { apiFor, startBrokerWithProjects } from './zaqar-world.js';

/**
 * Each scenario runs against the real Zaqar 15.0.0 and EventterMQ at once. Zaqar must produce the scenario's
 * `expected` observation (or `zaqar` where it is defective), so the recording cannot drift from it;
 * EventterMQ must produce `expected`. Without Zaqar the reference half is skipped (a failure with CI=true).
 */
const BOOT_TIMEOUT_MS = 90_000;

let zaqar: Zaqar | undefined;
let eventter: BrokerUnderTest | undefined;
let dir: string;

before(
  async () => {
    dir = await mkdtemp(join(tmpdir(), 'eventter-zaqar-diff-'));
    const [z, e] = await Promise.allSettled([
      startZaqar(),
      startBrokerWithProjects(
        zaqarScenarios.map((s) => s.name),
        dir,
      ),
    ]);
    if (z.status === 'fulfilled') zaqar = z.value;
    if (e.status === 'fulfilled') eventter = e.value;
    if (z.status === 'rejected') throw z.reason;
    if (e.status === 'rejected') throw e.reason;
  },
  { timeout: BOOT_TIMEOUT_MS },
);

after(async () => {
  await Promise.all([zaqar?.stop(), eventter?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

function run(baseUrl: string, scenario: ZaqarScenario): Promise<Observation> {
  return scenario.run(apiFor(baseUrl, scenario.name), new Normaliser());
}

function differential(scenario: ZaqarScenario): void {
  test(scenario.name, async (t) => {
    assert.ok(eventter !== undefined, 'EventterMQ did not start');
    const [reference, ours] = await Promise.allSettled([
      zaqar === undefined ? Promise.resolve(null) : run(zaqar.url, scenario),
      run(`http://127.0.0.1:${eventter.httpPort}`, scenario),
    ]);

    await t.test('Zaqar produces the recorded observation', (sub) => {
      if (zaqar === undefined) {
        missingSystemPackage(sub, zaqarUnavailableReason() ?? 'no Zaqar');
        return;
      }
      if (reference.status === 'rejected') assert.fail(`scenario threw on Zaqar: ${reference.reason}`);
      assert.deepEqual(reference.value, scenario.zaqar ?? scenario.expected);
    });

    await t.test('EventterMQ produces what Zaqar does', () => {
      if (ours.status === 'rejected') {
        const err = ours.reason as Error;
        assert.fail(`scenario threw on EventterMQ: ${err.stack ?? err.message}`);
      }
      assert.deepEqual(ours.value, scenario.expected);
    });
  });
}

describe('HTTP queue API: EventterMQ against Zaqar 15.0.0', { concurrency: 4 }, () => {
  for (const scenario of zaqarScenarios) differential(scenario);
});
