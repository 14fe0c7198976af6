import assert from 'node:assert/strict';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { type RabbitMq, startRabbitMq } from '../helpers/rabbitmq.js';
import { seedEventter, seedRabbitMq } from './access-fixtures.js';
import { eventterAdmin, rabbitMqAdmin } from './broker-admin.js';
import type { BrokerAdmin, Observation, Scenario } from './scenario.js';
import { allScenarios } from './scenarios/index.js';

/**
 * Each scenario runs against RabbitMQ 3.10 and EventterMQ at the same time. RabbitMQ must produce the
 * scenario's `expected` observation (keeping it honest); EventterMQ must produce exactly what RabbitMQ did.
 * Where a scenario records a RabbitMQ 3.10 defect (`rabbitmq` set), RabbitMQ must produce that instead
 * and EventterMQ `expected`.
 * Without a RabbitMQ (no EVENTTER_TEST_RABBITMQ_URL, no rabbitmq-server package) its half is skipped and
 * EventterMQ is held to `expected`.
 */
const BOOT_TIMEOUT_MS = 90_000;
const NO_RABBITMQ = 'no RabbitMQ: install rabbitmq-server or set EVENTTER_TEST_RABBITMQ_URL';

let rabbit: RabbitMq | undefined;
let eventter: BrokerUnderTest | undefined;

before(
  async () => {
    const [r, e] = await Promise.allSettled([startSeededRabbitMq(), startSeededEventter()]);
    if (r.status === 'fulfilled') rabbit = r.value;
    if (e.status === 'fulfilled') eventter = e.value;
    if (r.status === 'rejected') throw r.reason;
    if (e.status === 'rejected') throw e.reason;
  },
  { timeout: BOOT_TIMEOUT_MS },
);

after(async () => {
  await Promise.all([rabbit?.stop(), eventter?.stop()]);
});

/** RabbitMQ with the access-control fixtures, where this process can administer it. */
async function startSeededRabbitMq(): Promise<RabbitMq | undefined> {
  const node = await startRabbitMq();
  if (node?.nodeName !== undefined) {
    await seedRabbitMq(node).catch(async (err: unknown) => {
      await node.stop();
      throw err;
    });
  }
  return node;
}

/** EventterMQ started on a data directory that already holds the access-control fixtures. */
async function startSeededEventter(): Promise<BrokerUnderTest> {
  if (isExternalBroker()) return startBroker();
  const dataDir = await mkdtemp(join(tmpdir(), 'eventter-differential-'));
  await seedEventter(dataDir);
  return startBroker({ dataDir });
}

type Outcome = PromiseSettledResult<Observation> | undefined;

function observationOf(outcome: Outcome, broker: string): Observation {
  assert.ok(outcome !== undefined);
  if (outcome.status === 'rejected') {
    const err = outcome.reason as Error;
    assert.fail(`scenario threw on ${broker}: ${err.stack ?? err.message}`);
  }
  return outcome.value;
}

function differential(scenario: Scenario): void {
  test(scenario.name, async (t) => {
    assert.ok(eventter !== undefined, 'EventterMQ did not start');
    const rabbitAdmin: BrokerAdmin | undefined = rabbit === undefined ? undefined : rabbitMqAdmin(rabbit);
    // An external RabbitMQ cannot be administered from here: scenarios needing that lose their reference.
    const reference =
      rabbit !== undefined && (rabbitAdmin !== undefined || !scenario.needsAdmin) ? rabbit : undefined;
    const [referenceRun, ours] = await Promise.allSettled([
      reference === undefined ? Promise.resolve(null) : scenario.run(reference.url, rabbitAdmin),
      scenario.run(eventter.url, eventterAdmin(eventter)),
    ]);
    const referenceOutcome: Outcome = reference === undefined ? undefined : referenceRun;

    await t.test('RabbitMQ produces the expected observation', (sub) => {
      if (referenceOutcome === undefined) {
        sub.skip(
          rabbit !== undefined ? 'needs rabbitmqctl, unavailable for an external RabbitMQ' : NO_RABBITMQ,
        );
        return;
      }
      assert.deepEqual(observationOf(referenceOutcome, 'RabbitMQ'), scenario.rabbitmq ?? scenario.expected);
    });

    await t.test('EventterMQ observes what RabbitMQ does', () => {
      // Where RabbitMQ 3.10 is known to be wrong (`rabbitmq` set), EventterMQ is held to `expected`.
      const want =
        referenceOutcome?.status === 'fulfilled' && scenario.rabbitmq === undefined
          ? referenceOutcome.value
          : (scenario.expected as Observation);
      assert.deepEqual(observationOf(ours, 'EventterMQ'), want);
    });
  });
}

describe('differential: EventterMQ against RabbitMQ 3.10', { concurrency: 4 }, () => {
  for (const scenario of allScenarios) differential(scenario);
});
