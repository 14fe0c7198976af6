import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { DefinitionsJson } from '../../src/core/definitions-format.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { PROJECT_ROOT, runCli } from '../helpers/cli-process.js';
import { type RabbitMq, rabbitMqAvailable, startRabbitMq } from '../helpers/rabbitmq.js';
import { buildOnRabbitMq, checkDefinitions, checkLogins, checkRouting, VHOST } from './rabbitmq-topology.js';

/**
 * RabbitMQ's definitions into EventterMQ: an export a real RabbitMQ 3.10 makes now (rabbitmq-server
 * installed, or CI, where its absence fails the test), and the one recorded from it in test/fixtures/ (always).
 * EVENTTER_RECORD_DEFINITIONS=1 rewrites the recording from the live run.
 */

const FIXTURE = join(PROJECT_ROOT, 'test', 'fixtures', 'rabbitmq-3.10-definitions.json');
const GUEST = `Basic ${Buffer.from('guest:guest').toString('base64')}`;

function inCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

async function importWithCli(broker: BrokerUnderTest, file: string): Promise<string> {
  const run = await runCli(['definitions', 'import', file, '--url', `http://127.0.0.1:${broker.httpPort}`], {
    timeoutMs: 60_000,
  });
  assert.equal(run.code, 0, `import failed: ${run.stderr}`);
  return run.stdout;
}

async function httpJson(port: number, path: string): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: GUEST } });
  assert.equal(res.status, 200, `GET ${path}`);
  return res.json();
}

/** Imports a definitions file into a fresh EventterMQ and checks it behaves as the RabbitMQ it came from. */
async function importAndCheck(file: string): Promise<DefinitionsJson> {
  const broker = await startBroker();
  try {
    assert.match(await importWithCli(broker, file), /imported definitions/);
    await checkLogins(broker.amqpPort);
    await checkRouting(broker.amqpPort);
    const ours = (await httpJson(broker.httpPort, '/api/definitions')) as DefinitionsJson;
    checkDefinitions(ours);
    return ours;
  } finally {
    await broker.stop();
  }
}

/** Only the vhost's part, renamed: what RabbitMQ gets back from us. */
function asVhost(d: DefinitionsJson, from: string, to: string): object {
  const inVhost = <T extends { vhost?: string }>(items: T[]) =>
    items.filter((i) => i.vhost === from).map((i) => ({ ...i, vhost: to }));
  const vhost = d.vhosts.find((v) => v.name === from);
  return {
    vhosts: [{ ...vhost, name: to }],
    parameters: inVhost(d.parameters),
    policies: inVhost(d.policies),
    exchanges: inVhost(d.exchanges),
    queues: inVhost(d.queues),
    bindings: inVhost(d.bindings),
  };
}

/** A vhost's topology as RabbitMQ's export shows it, comparable across vhosts. */
function topologyOf(d: DefinitionsJson, vhost: string): object {
  const strip = <T extends { vhost?: string }>(items: T[]) =>
    items
      .filter((i) => i.vhost === vhost)
      .map(({ vhost: _, ...rest }) => JSON.stringify(rest))
      .sort();
  return {
    parameters: strip(d.parameters),
    // The mirroring policy stays behind: an import drops it (one node has nothing to mirror to).
    policies: strip(d.policies.filter((p) => p.name !== 'mirror')),
    exchanges: strip(d.exchanges),
    queues: strip(d.queues),
    bindings: strip(d.bindings),
  };
}

test('an export made now by RabbitMQ 3.10 imports into EventterMQ, works, and goes back into RabbitMQ', {
  timeout: 240_000,
}, async (t) => {
  if (isExternalBroker()) return t.skip('needs to start EventterMQ itself');
  if (!rabbitMqAvailable()) {
    if (inCi()) assert.fail('rabbitmq-server is not installed: CI must run this test');
    return t.skip('no RabbitMQ: install rabbitmq-server (the recorded export is tested below)');
  }
  const rabbit = (await startRabbitMq()) as RabbitMq;
  const dir = await mkdtemp(join(tmpdir(), 'eventter-rmq-defs-'));
  try {
    if (rabbit.nodeName === undefined) {
      if (inCi()) assert.fail('an external RabbitMQ cannot be set up with rabbitmqctl');
      return t.skip('needs rabbitmqctl, unavailable for an external RabbitMQ');
    }
    await buildOnRabbitMq(rabbit);
    const file = join(dir, 'rabbitmq.json');
    await rabbit.rabbitmqctl(['export_definitions', file]);
    if (process.env.EVENTTER_RECORD_DEFINITIONS === '1') {
      const recorded = JSON.parse(await readFile(file, 'utf8')) as unknown;
      await writeFile(FIXTURE, `${JSON.stringify(recorded, null, 2)}\n`);
    }
    const ours = await importAndCheck(file);

    // Back: our export of the vhost, imported by RabbitMQ into a new vhost, is the same topology there.
    const back = join(dir, 'back.json');
    await writeFile(back, JSON.stringify(asVhost(ours, VHOST, 'shop-back')));
    await rabbit.rabbitmqctl(['import_definitions', back]);
    const after = join(dir, 'after.json');
    await rabbit.rabbitmqctl(['export_definitions', after]);
    const theirs = JSON.parse(await readFile(after, 'utf8')) as DefinitionsJson;
    assert.deepEqual(topologyOf(theirs, 'shop-back'), topologyOf(theirs, VHOST));
  } finally {
    await rabbit.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

test('the recorded RabbitMQ 3.10 export imports into EventterMQ and works', {
  timeout: 120_000,
}, async (t) => {
  if (isExternalBroker()) return t.skip('needs to start EventterMQ itself');
  const recorded = JSON.parse(await readFile(FIXTURE, 'utf8')) as { rabbitmq_version?: string };
  assert.match(recorded.rabbitmq_version ?? '', /^3\.10\./, 'made by RabbitMQ 3.10');
  await importAndCheck(FIXTURE);
});
