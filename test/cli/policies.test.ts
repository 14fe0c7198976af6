import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { formatTable, runPoliciesCommand } from '../../src/cli/policies-command.js';
import type { PolicyRegistry } from '../../src/core/policies.js';
import { type ManagementFixture, openManagementFixture } from '../helpers/management-fixture.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  requests: number;
}

let fx: ManagementFixture;
let policies: PolicyRegistry;
let url: string;

before(async () => {
  fx = await openManagementFixture({
    users: [
      {
        name: 'guest',
        password: 'guest',
        vhosts: ['/', 'shop'],
        loopbackOnly: true,
        tags: ['administrator'],
      },
      { name: 'ops', password: 'op5', vhosts: ['shop'], loopbackOnly: false, tags: ['policymaker'] },
    ],
    vhosts: ['/', 'shop'],
  });
  policies = fx.broker.policies;
  url = await fx.listen();
});

after(async () => {
  await fx.close();
});

/** Runs the command in-process against the test server (unless the env names another URL). */
async function cli(argv: string[], env: NodeJS.ProcessEnv = { EVENTTER_HTTP_URL: url }): Promise<Run> {
  const run: Run = { code: -1, stdout: '', stderr: '', requests: 0 };
  run.code = await runPoliciesCommand(argv, {
    env,
    stdout: (text) => {
      run.stdout += text;
    },
    stderr: (text) => {
      run.stderr += text;
    },
    fetch: (input, init) => {
      run.requests++;
      return fetch(input, init);
    },
  });
  return run;
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('eventter policies (against a live management API)', () => {
  it('sets, lists and clears a policy', async () => {
    const set = await cli([
      'set',
      'ttl',
      '^orders\\.',
      '{"message-ttl":60000,"max-length":10}',
      '--priority',
      '2',
    ]);
    assert.deepEqual([set.code, set.stdout, set.stderr], [0, "created policy 'ttl' in vhost '/'\n", '']);
    assert.deepEqual(policies.get('/', 'ttl'), {
      vhost: '/',
      name: 'ttl',
      pattern: '^orders\\.',
      applyTo: 'all',
      priority: 2,
      definition: { 'message-ttl': 60000, 'max-length': 10 },
    });

    const again = await cli([
      'set',
      'ttl',
      '.*',
      '{"expires":1000}',
      '--apply-to',
      'queues',
      '--priority',
      '-1',
    ]);
    assert.equal(again.code, 0);
    assert.equal(again.stdout, "updated policy 'ttl' in vhost '/'\n");
    assert.equal(policies.get('/', 'ttl')?.priority, -1);
    assert.equal(policies.get('/', 'ttl')?.applyTo, 'queues');

    const list = await cli(['list']);
    assert.equal(list.code, 0);
    assert.equal(
      list.stdout,
      formatTable(
        ['vhost', 'name', 'pattern', 'apply-to', 'priority', 'definition'],
        [['/', 'ttl', '.*', 'queues', '-1', '{"expires":1000}']],
      ),
    );
    assert.match(
      list.stdout,
      /^vhost +name +pattern +apply-to +priority +definition\n\/ +ttl +\.\* +queues +-1 +\{"expires":1000\}\n$/,
    );

    const clear = await cli(['clear', 'ttl']);
    assert.deepEqual([clear.code, clear.stdout], [0, "cleared policy 'ttl' in vhost '/'\n"]);
    assert.equal(policies.get('/', 'ttl'), undefined);
    assert.equal((await cli(['list'])).stdout, "no policies in vhost '/'\n");
  });

  it('works in another vhost and lists as JSON or across vhosts', async () => {
    const set = await cli([
      'set',
      'ae',
      '^cart',
      '{"alternate-exchange":"unrouted"}',
      '--vhost',
      'shop',
      '--apply-to',
      'exchanges',
    ]);
    assert.equal(set.code, 0, set.stderr);
    await cli(['set', 'root', '.*', '{"max-length":5}']);

    const json = await cli(['list', '--vhost', 'shop', '--json']);
    assert.equal(json.code, 0);
    assert.deepEqual(JSON.parse(json.stdout), [
      {
        vhost: 'shop',
        name: 'ae',
        pattern: '^cart',
        'apply-to': 'exchanges',
        definition: { 'alternate-exchange': 'unrouted' },
        priority: 0,
      },
    ]);
    const all = await cli(['list', '--all-vhosts']);
    assert.match(all.stdout, /^\/ +root /m);
    assert.match(all.stdout, /^shop +ae /m);

    // The ops user only sees its own vhost.
    const ops = await cli(['list', '--all-vhosts', '--user', 'ops', '--password', 'op5']);
    assert.equal(ops.code, 0);
    assert.doesNotMatch(ops.stdout, /root/);
    await cli(['clear', 'ae', '--vhost', 'shop']);
    await cli(['clear', 'root']);
  });

  it('takes the URL and credentials from the environment, flags first', async () => {
    const env = { EVENTTER_HTTP_URL: url, EVENTTER_USER: 'ops', EVENTTER_PASSWORD: 'op5' };
    const denied = await cli(['list'], env);
    assert.equal(denied.code, 1);
    assert.equal(denied.stderr, "eventter policies: 403: user 'ops' has no access to vhost '/'\n");
    assert.equal((await cli(['list', '--vhost', 'shop'], env)).code, 0);
    const flags = await cli(['--user', 'guest', 'list', '--password', 'guest'], env);
    assert.equal(flags.code, 0, flags.stderr);
    const viaFlag = await cli(['list', '--url', url], {});
    assert.equal(viaFlag.code, 0, viaFlag.stderr);
  });

  it('reports refusals from the broker with exit code 1', async () => {
    const badLogin = await cli(['list', '--password', 'nope']);
    assert.deepEqual([badLogin.code, badLogin.stderr], [1, 'eventter policies: 401: Login failed\n']);

    const badKey = await cli(['set', 'p', '.*', '{"max-priority":10}']);
    assert.equal(badKey.code, 1);
    assert.match(badKey.stderr, /^eventter policies: 400: "max-priority" cannot be set by a policy/);

    const missing = await cli(['clear', 'nothing']);
    assert.deepEqual(
      [missing.code, missing.stderr],
      [1, "eventter policies: 404: no policy 'nothing' in vhost '/'\n"],
    );

    const port = await closedPort();
    const down = await cli(['list', '--url', `http://127.0.0.1:${port}`]);
    assert.equal(down.code, 1);
    assert.match(
      down.stderr,
      new RegExp(`cannot reach the broker at http://127.0.0.1:${port}: ECONNREFUSED`),
    );
  });

  it('rejects bad command lines with exit code 2 before any request', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['set', 'p', '.*', '{"max-length":'], /the definition is not valid JSON/],
      [['set', 'p', '.*', '[1]'], /the definition must be a JSON object/],
      [['set', 'p', '.*', '{}', '--priority', 'high'], /--priority <n>.*must be an integer/],
      [['set', 'p', '.*', '{}', '--apply-to', 'streams'], /Allowed choices are queues, exchanges, all/],
      [['set', 'p'], /missing required argument 'pattern'/],
      [['list', '--url', 'not a url'], /invalid --url/],
      [['list', '--url', 'ftp://host'], /--url must be http/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [[], /Usage: eventter policies/],
    ];
    for (const [argv, message] of cases) {
      const run = await cli(argv);
      assert.equal(run.code, 2, argv.join(' '));
      assert.match(run.stderr + run.stdout, message, argv.join(' '));
      assert.equal(run.requests, 0, argv.join(' '));
    }
  });

  it('prints help with exit code 0', async () => {
    const run = await cli(['set', '--help']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /Usage: eventter policies set \[options\] <name> <pattern> <definition>/);
    assert.match(run.stdout, /--apply-to <kind>/);
  });
});
