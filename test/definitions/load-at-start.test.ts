import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { PROJECT_ROOT, runCli } from '../helpers/cli-process.js';
import { checkLogins, checkRouting } from './rabbitmq-topology.js';

/** The config's `definitions` file (flag --definitions), imported at every start like RabbitMQ's load_definitions. */

const FIXTURE = join(PROJECT_ROOT, 'test', 'fixtures', 'rabbitmq-3.10-definitions.json');
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eventter-defs-start-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('a broker started with --definitions has the topology, and a restart with the same file keeps it', {
  timeout: 120_000,
}, async (t) => {
  if (isExternalBroker()) return t.skip('needs to start EventterMQ itself');
  const dataDir = join(dir, 'data');
  const logs: string[] = [];
  const start = () =>
    startBroker({ dataDir, extraArgs: ['--definitions', FIXTURE], onLogLine: (line) => logs.push(line) });
  const first = await start();
  try {
    await checkLogins(first.amqpPort);
  } finally {
    assert.equal(await first.stop(), 0);
  }
  const imported = logs.filter((line) => line.includes('"definitions imported"'));
  assert.equal(imported.length, 1);
  assert.match(logs.join('\n'), /policy 'mirror' in vhost 'shop': skipped/);
  const second = await start();
  try {
    await checkRouting(second.amqpPort);
  } finally {
    assert.equal(await second.stop(), 0);
  }
  const again = JSON.parse(logs.filter((line) => line.includes('"definitions imported"'))[1]) as {
    counts: Record<string, { created: number; updated: number }>;
  };
  // Users logged in in between, so their RabbitMQ hashes became scrypt ones: still no change.
  for (const [category, counts] of Object.entries(again.counts)) {
    assert.equal(counts.created + counts.updated, 0, `${category} changed at the second start`);
  }
});

test('a definitions file that cannot be imported stops the start with every problem named', {
  timeout: 60_000,
}, async (t) => {
  if (isExternalBroker()) return t.skip('needs to start EventterMQ itself');
  const bad = join(dir, 'bad.json');
  await writeFile(
    bad,
    JSON.stringify({ exchanges: [{ name: 'ring', vhost: '/', type: 'x-consistent-hash', durable: true }] }),
  );
  const base = [
    'server',
    '--amqp-port',
    '0',
    '--http-port',
    '0',
    '--mqtt-port',
    '0',
    '--hosts',
    '127.0.0.1',
    '--data-dir',
    join(dir, 'bad-data'),
  ];
  const refused = await runCli([...base, '--definitions', bad], { timeoutMs: 30_000 });
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /eventter: definitions file .*bad\.json: definitions not imported: exchange 'ring' in vhost '\/': exchange type 'x-consistent-hash' is not supported/,
  );
  const missing = await runCli([...base, '--definitions', join(dir, 'absent.json')], { timeoutMs: 30_000 });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /eventter: cannot read definitions file .*absent\.json: ENOENT/);
});
