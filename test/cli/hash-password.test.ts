import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { UserRegistry } from '../../src/core/users.js';
import { CLI_ENTRY, runCli } from '../helpers/cli-process.js';

const PASSWORD = 'correct horse battery';
const STEP_MS = 10_000;

async function verifies(hash: string, password: string): Promise<boolean> {
  const users = new UserRegistry([{ name: 'u', passwordHash: hash, vhosts: ['/'], loopbackOnly: false }]);
  return (await users.authenticate('u', password, '127.0.0.1')) !== undefined;
}

const quote = (word: string) => `'${word.replaceAll("'", "'\\''")}'`;

// util-linux `script` runs the command on a fresh pseudo-terminal, as a person at a terminal would.
const scriptMissing =
  process.platform !== 'linux' || spawnSync('script', ['--version'], { stdio: 'ignore' }).status !== 0
    ? 'needs util-linux script (a pseudo-terminal)'
    : false;

/** hash-password on a pseudo-terminal; `answer` is called with everything shown so far and returns keys to type. */
function runOnTerminal(
  answer: (screen: string) => string | undefined,
): Promise<{ code: number | null; screen: string }> {
  const child = spawn(
    'script',
    ['-qec', `${quote(process.execPath)} ${quote(CLI_ENTRY)} hash-password`, '/dev/null'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, TERM: 'dumb' },
    },
  );
  let screen = '';
  const onOutput = (chunk: Buffer) => {
    screen += chunk.toString('utf8');
    const keys = answer(screen);
    if (keys !== undefined) child.stdin.write(keys);
  };
  child.stdout.on('data', onOutput);
  child.stderr.on('data', onOutput);
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_MS);
  return new Promise((resolve) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, screen });
    });
  });
}

describe('eventter hash-password', () => {
  it('reads the first line of a pipe, without prompting', async () => {
    const run = await runCli(['hash-password'], { input: `${PASSWORD}\nsecond line\n` });
    assert.equal(run.code, 0);
    assert.equal(run.stderr, '');
    assert.ok(await verifies(run.stdout.trim(), PASSWORD));
  });

  it('does not echo the password typed at a terminal, and asks for it twice', {
    skip: scriptMissing,
  }, async () => {
    let prompts = 0;
    const { code, screen } = await runOnTerminal((shown) => {
      // Type only once a prompt shows: keys sent earlier are echoed by the terminal before raw mode is on.
      const seen = shown.match(/Password( again)?: /g)?.length ?? 0;
      if (seen === prompts) return undefined;
      prompts = seen;
      return `${PASSWORD}\r`;
    });
    assert.equal(code, 0, screen);
    assert.ok(!screen.includes(PASSWORD), `the password appeared on the terminal:\n${screen}`);
    assert.equal(prompts, 2, 'asked twice');
    const hash = /scrypt:\S+/.exec(screen)?.[0];
    assert.ok(hash !== undefined, screen);
    assert.ok(await verifies(hash, PASSWORD));
  });

  it('exits 130 without a hash on Ctrl-C at the prompt', { skip: scriptMissing }, async () => {
    let sent = false;
    const { code, screen } = await runOnTerminal((shown) => {
      if (sent || !shown.includes('Password: ')) return undefined;
      sent = true;
      return 'abc\u0003';
    });
    assert.equal(code, 130, screen);
    assert.doesNotMatch(screen, /scrypt:/);
  });
});
