import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UserRegistry } from '../../src/core/users.js';
import { CONFIG_OPTIONS, formatDefault } from '../../src/server/config.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const PACKAGE_JSON = new URL('../../../package.json', import.meta.url);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      { env: { PATH: process.env.PATH } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/** Help text wraps at the terminal width; compare with whitespace collapsed. */
function flat(text: string): string {
  return text.replace(/\s+/g, ' ');
}

describe('eventter CLI', () => {
  it('prints help when run without arguments', async () => {
    const run = await runCli([]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /Usage: eventter/);
    assert.match(run.stdout, /server \[options\]/);
  });

  it('lists the commands in --help', async () => {
    const run = await runCli(['--help']);
    assert.equal(run.code, 0);
    const text = flat(run.stdout);
    for (const expected of ['Usage: eventter', 'server [options]', 'hash-password', '--version', '--help']) {
      assert.ok(text.includes(expected), `--help mentions ${expected}`);
    }
  });

  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
    const run = await runCli(['--version']);
    assert.equal(run.code, 0);
    assert.equal(run.stdout.trim(), version);
  });

  it('documents every server option with its env var and default in server --help', async () => {
    const run = await runCli(['server', '--help']);
    assert.equal(run.code, 0);
    const text = flat(run.stdout);
    assert.ok(text.includes('--config <path> JSON config file (env EVENTTER_CONFIG, default none)'));
    for (const opt of CONFIG_OPTIONS) {
      const expected = `${opt.flag} ${opt.description} (env ${opt.env}, default ${formatDefault(opt.path)})`;
      assert.ok(text.includes(expected), `server --help documents: ${expected}`);
      if (opt.kind === 'boolean') assert.ok(text.includes(`--no-${opt.flag.slice(2)}`));
    }
    assert.ok(
      text.includes(
        '--amqp-port <port> AMQP listener port, 0 = any free port (env EVENTTER_AMQP_PORT, default 5672)',
      ),
    );
  });

  it('exits 2 with every configuration problem on stderr', async () => {
    const run = await runCli(['server', '--amqp-port', 'abc', '--frame-max', '12']);
    assert.equal(run.code, 2);
    assert.equal(run.stdout, '');
    assert.match(run.stderr, /Invalid configuration:/);
    assert.match(run.stderr, /amqpPort \(from flag --amqp-port\): must be an integer, got "abc"/);
    assert.match(run.stderr, /limits\.frameMax \(from flag --frame-max\): must be at least 4096, got 12/);
  });

  it('rejects unknown flags', async () => {
    const run = await runCli(['server', '--amqp-prot', '1']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /unknown option '--amqp-prot'/);
  });

  it('hash-password prints a hash of the password read from stdin', async () => {
    const run = await runCli(['hash-password'], 'pa55word\n');
    assert.equal(run.code, 0);
    const hash = run.stdout.trim();
    assert.match(hash, /^scrypt:/);
    const users = new UserRegistry([{ name: 'u', passwordHash: hash, vhosts: ['/'], loopbackOnly: false }]);
    assert.equal((await users.authenticate('u', 'pa55word', '127.0.0.1'))?.name, 'u');
    assert.equal(await users.authenticate('u', 'pa55word\n', '127.0.0.1'), undefined);
  });
});
