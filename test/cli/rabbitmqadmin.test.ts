import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AUDIT_VHOST } from '../../src/core/audit-stream.js';
import { adminApi } from '../helpers/admin-http.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../helpers/broker-under-test.js';

/**
 * RabbitMQ's own management CLI (Debian's rabbitmq-server package ships it) against EventterMQ's HTTP API:
 * the users, permissions and vhosts it lists and declares must work unchanged. In CI (CI=true), where
 * .ci/run installs rabbitmq-server, a missing rabbitmqadmin fails the test instead of skipping it.
 */

const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function findRabbitmqadmin(): string | undefined {
  if (existsSync('/usr/bin/rabbitmqadmin')) return '/usr/bin/rabbitmqadmin';
  const lib = '/usr/lib/rabbitmq/lib';
  if (!existsSync(lib)) return undefined;
  for (const server of readdirSync(lib).filter((d) => d.startsWith('rabbitmq_server-'))) {
    const plugins = join(lib, server, 'plugins');
    if (!existsSync(plugins)) continue;
    for (const plugin of readdirSync(plugins).filter((d) => d.startsWith('rabbitmq_management-'))) {
      const script = join(plugins, plugin, 'priv', 'www', 'cli', 'rabbitmqadmin');
      if (existsSync(script)) return script;
    }
  }
  return undefined;
}

const isCi = () => !['', '0', 'false', undefined].includes(process.env.CI);
const script = findRabbitmqadmin();
const skip = isExternalBroker()
  ? 'runs against the EventterMQ process'
  : script === undefined && !isCi()
    ? 'rabbitmqadmin not found (install the rabbitmq-server package)'
    : false;

let broker: BrokerUnderTest;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function rabbitmqadmin(args: string[], credentials: [string, string] = ['guest', 'guest']): Promise<Run> {
  assert.ok(script, 'rabbitmqadmin is missing: CI installs the rabbitmq-server package (.ci/run)');
  const connection = [
    '-H',
    '127.0.0.1',
    '-P',
    String(broker.httpPort),
    '-u',
    credentials[0],
    '-p',
    credentials[1],
  ];
  return new Promise((resolve) => {
    execFile(PYTHON, [script, ...connection, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

before(async () => {
  if (skip) return;
  broker = await startBroker();
});
after(async () => {
  if (skip) return;
  await broker.stop();
  await rm(broker.dataDir, { recursive: true, force: true });
});

describe("RabbitMQ's rabbitmqadmin against EventterMQ", { skip }, () => {
  it('lists users and vhosts', async () => {
    const users = await rabbitmqadmin(['list', 'users']);
    assert.equal(users.code, 0, users.stderr);
    assert.match(users.stdout, /\| guest +\|/);
    assert.match(users.stdout, /administrator/);
    const vhosts = await rabbitmqadmin(['list', 'vhosts']);
    assert.equal(vhosts.code, 0, vhosts.stderr);
    assert.match(vhosts.stdout, /\| +name +\| messages \|/);
    assert.match(vhosts.stdout, /\| \/ +\| 0 +\|/);
    assert.match(vhosts.stdout, new RegExp(`\\| ${AUDIT_VHOST.replace('.', '\\.')} +\\|`));
  });

  it('declares a user, its permissions and a vhost, then deletes them', async () => {
    const user = await rabbitmqadmin(['declare', 'user', 'name=ra', 'password=ra-pw', 'tags=management']);
    assert.equal(user.code, 0, user.stderr);
    const vhost = await rabbitmqadmin(['declare', 'vhost', 'name=ra-vhost']);
    assert.equal(vhost.code, 0, vhost.stderr);
    const permission = await rabbitmqadmin([
      'declare',
      'permission',
      'vhost=ra-vhost',
      'user=ra',
      'configure=^ra\\.',
      'write=.*',
      'read=.*',
    ]);
    assert.equal(permission.code, 0, permission.stderr);

    const api = adminApi(broker.httpPort);
    assert.deepEqual((await adminApi(broker.httpPort, 'ra:ra-pw')('GET', '/api/whoami')).json, {
      name: 'ra',
      tags: ['management'],
    });
    assert.deepEqual((await api('GET', '/api/permissions/ra-vhost/ra')).json, {
      user: 'ra',
      vhost: 'ra-vhost',
      configure: '^ra\\.',
      write: '.*',
      read: '.*',
    });

    const json = await rabbitmqadmin(['-f', 'raw_json', 'list', 'permissions']);
    assert.equal(json.code, 0, json.stderr);
    assert.ok(
      (JSON.parse(json.stdout) as Array<{ user: string; vhost: string }>).some(
        (p) => p.user === 'ra' && p.vhost === 'ra-vhost',
      ),
    );
    // Not an administrator: refused.
    const refused = await rabbitmqadmin(['list', 'users'], ['ra', 'ra-pw']);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stdout + refused.stderr, /Not administrator user/);

    assert.equal((await rabbitmqadmin(['delete', 'permission', 'vhost=ra-vhost', 'user=ra'])).code, 0);
    assert.equal((await rabbitmqadmin(['delete', 'user', 'name=ra'])).code, 0);
    assert.equal((await rabbitmqadmin(['delete', 'vhost', 'name=ra-vhost'])).code, 0);
    assert.equal((await api('GET', '/api/users/ra')).status, 404);
    assert.equal((await api('GET', '/api/vhosts/ra-vhost')).status, 404);
  });
});
