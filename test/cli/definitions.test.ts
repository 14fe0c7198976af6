import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { runDefinitionsCommand } from '../../src/cli/definitions-command.js';
import { Broker } from '../../src/core/broker.js';
import type { DefinitionsJson } from '../../src/core/definitions-format.js';
import { createLogger } from '../../src/server/logger.js';
import { managementApp, openBroker, populate, removeBrokerDirs } from '../core/definitions-helpers.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let broker: Broker;
let app: FastifyInstance;
let url: string;
let files: string;

before(async () => {
  files = await mkdtemp(join(tmpdir(), 'eventter-cli-defs-'));
  broker = await openBroker();
  await populate(broker);
  app = managementApp(broker);
  url = await app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await app.close();
  await broker.close();
  await removeBrokerDirs();
  await rm(files, { recursive: true, force: true });
});

async function cli(argv: string[], env: NodeJS.ProcessEnv = { EVENTTER_HTTP_URL: url }): Promise<Run> {
  const run: Run = { code: -1, stdout: '', stderr: '' };
  run.code = await runDefinitionsCommand(argv, {
    env,
    stdout: (text) => {
      run.stdout += text;
    },
    stderr: (text) => {
      run.stderr += text;
    },
  });
  return run;
}

const exported = (b: Broker) => b.definitions.export()?.definitions as DefinitionsJson;
const withoutVersions = ({ rabbit_version, rabbitmq_version, product_version, ...rest }: DefinitionsJson) =>
  rest;

describe('eventter definitions (against a running broker)', () => {
  it('export prints the definitions, or writes them to a file, and notes users without a password hash', async () => {
    const toStdout = await cli(['export']);
    assert.equal(toStdout.code, 0, toStdout.stderr);
    assert.deepEqual(JSON.parse(toStdout.stdout), exported(broker));
    assert.match(toStdout.stderr, /note: exported without a password hash .*: robot/);
    const file = join(files, 'all.json');
    const toFile = await cli(['export', file]);
    assert.equal(toFile.code, 0, toFile.stderr);
    assert.equal(toFile.stdout, '');
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), exported(broker));
    assert.equal((await stat(file)).mode & 0o777, 0o600, 'password hashes: owner only');
    const shop = await cli(['export', '--vhost', 'shop']);
    assert.equal((JSON.parse(shop.stdout) as { queues: unknown[] }).queues.length, 5);
  });

  it('import applies a file; a bad one fails with every problem and exit code 1', async () => {
    const good = join(files, 'good.json');
    await writeFile(good, JSON.stringify({ vhosts: [{ name: 'from-cli' }] }));
    const ok = await cli(['import', good, '--url', url]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /imported definitions from/);
    assert.ok(broker.vhost('from-cli'));

    const bad = join(files, 'bad.json');
    await writeFile(
      bad,
      JSON.stringify({ exchanges: [{ name: 'ring', vhost: 'shop', type: 'x-consistent-hash' }] }),
    );
    const refused = await cli(['import', bad]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /eventter definitions: 400: definitions not imported: exchange 'ring'/);

    const notJson = join(files, 'not.json');
    await writeFile(notJson, '{"queues": [');
    const parse = await cli(['import', notJson]);
    assert.equal(parse.code, 1);
    assert.match(parse.stderr, /the file is not valid JSON/);
    const missing = await cli(['import', join(files, 'none.json')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot read .*none\.json: ENOENT/);
  });

  it('usage mistakes exit 2', async () => {
    assert.equal((await cli([])).code, 2);
    assert.equal((await cli(['import'])).code, 2);
    const both = await cli(['export', '--data-dir', files, '--url', url]);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give --url or --data-dir, not both/);
  });
});

describe('eventter definitions --data-dir (a stopped broker)', () => {
  it("refuses while a broker holds the directory, then imports and exports under the directory's lock", async () => {
    const source = join(files, 'source.json');
    await writeFile(source, JSON.stringify(exported(broker)));
    const target = await openBroker();
    const dataDir = target.options.dataDir;
    const busy = await cli(['import', '--data-dir', dataDir, source]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /is in use by process \d+ .*use its HTTP API \(--url\) instead of --data-dir/);
    await target.close();

    const imported = await cli(['import', '--data-dir', dataDir, source]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.match(imported.stdout, /queues: 5 created, 0 updated, 0 unchanged/);
    const again = await cli(['import', '--data-dir', dataDir, source]);
    assert.match(again.stdout, /queues: 0 created, 0 updated, 5 unchanged/);

    const out = await cli(['export', '--data-dir', dataDir]);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(withoutVersions(JSON.parse(out.stdout)), withoutVersions(exported(broker)));

    const reopened = await Broker.open(target.options, createLogger('silent'));
    assert.ok(reopened.vhost('shop')?.findQueue('orders.eu'), 'a broker started on it has the topology');
    await reopened.close();

    // A new directory gets what the file holds and nothing else: guest and "/" come with the first start.
    const fresh = join(files, 'fresh');
    await mkdir(fresh);
    const only = join(files, 'only.json');
    await writeFile(only, JSON.stringify({ vhosts: [{ name: 'only' }] }));
    assert.equal((await cli(['import', '--data-dir', fresh, only])).code, 0);
    const seeded = JSON.parse((await cli(['export', '--data-dir', fresh])).stdout) as DefinitionsJson;
    assert.deepEqual(seeded.users, []);
    assert.deepEqual(
      seeded.vhosts.map((v) => v.name),
      ['only'],
    );

    const noVhost = await cli(['export', '--data-dir', dataDir, '--vhost', 'nowhere']);
    assert.equal(noVhost.code, 1);
    assert.match(noVhost.stderr, /no vhost 'nowhere'/);
    const noDir = await cli(['export', '--data-dir', join(files, 'absent')]);
    assert.equal(noDir.code, 1);
    assert.match(noDir.stderr, /no directory .*absent/);
  });
});
