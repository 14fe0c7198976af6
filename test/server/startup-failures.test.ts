import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { CLI_ENTRY, type CliRun, logLinesAt, runCli } from '../helpers/cli-process.js';

// Each start-up failure with a cause in the machine's set-up must end the process promptly with exit code 1
// and one plain line on stderr naming the cause: no JSON fatal record, no stack trace.
const EXIT_FAILURE = 1;
const PROMPT_MS = 10_000;

function serverArgs(dataDir: string, ...extra: string[]): string[] {
  return [
    'server',
    '--data-dir',
    dataDir,
    '--hosts',
    '127.0.0.1',
    '--amqp-port',
    '0',
    '--http-port',
    '0',
    '--mqtt-port',
    '0',
    ...extra,
  ];
}

function assertOnePlainLine(run: CliRun, pattern: RegExp): void {
  assert.equal(run.timedOut, false, `still running after ${PROMPT_MS} ms`);
  assert.equal(run.code, EXIT_FAILURE, `exit code; stderr: ${run.stderr}`);
  const lines = run.stderr.split('\n').filter((line) => line.length > 0);
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0], /^eventter: /);
  assert.match(lines[0], pattern);
  assert.deepEqual(logLinesAt(run.stdout, ['fatal', 'error']), [], 'no fatal/error log records');
  assert.doesNotMatch(run.stdout + run.stderr, /\n\s+at /, 'no stack trace');
}

function spawnSleep(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

describe('start-up failures', { skip: isExternalBroker() && 'starts the EventterMQ CLI' }, () => {
  let scratch: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'eventter-startup-'));
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('restarts after kill -9 even when LOCK names a pid now used by another live process', async () => {
    const dataDir = join(scratch, 'killed');
    const first = await startBroker({ dataDir });
    await first.kill9();
    // After a reboot the dead broker's pid routinely belongs to some other process.
    const bystander = spawnSleep();
    try {
      await writeFile(join(dataDir, 'LOCK'), `${bystander.pid}\n`);
      const second = await startBroker({ dataDir });
      assert.equal(await second.stop(), 0);
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('refuses a second broker on the same data directory, naming the first one', async () => {
    const dataDir = join(scratch, 'shared');
    const first = await startBroker({ dataDir });
    try {
      const run = await runCli(serverArgs(dataDir), { timeoutMs: PROMPT_MS });
      assertOnePlainLine(
        run,
        new RegExp(`data directory .*shared is in use by process ${first.process?.pid}`),
      );
    } finally {
      assert.equal(await first.stop(), 0, 'the first broker is unaffected and stops cleanly');
    }
  });

  it('names a port already in use and the flag to change it, once', async () => {
    const occupier: Server = createServer();
    await new Promise<void>((resolve) => occupier.listen(0, '127.0.0.1', resolve));
    const port = (occupier.address() as { port: number }).port;
    try {
      const run = await runCli(
        [
          'server',
          '--data-dir',
          join(scratch, 'port'),
          '--hosts',
          '127.0.0.1',
          '--amqp-port',
          String(port),
          '--mqtt-port',
          '0',
        ],
        { timeoutMs: PROMPT_MS },
      );
      assertOnePlainLine(run, new RegExp(`127\\.0\\.0\\.1:${port}.*EADDRINUSE.*--amqp-port`));
    } finally {
      occupier.close();
    }
  });

  it('names a data directory that cannot be created because a parent is a file (fails for root too)', async () => {
    const file = join(scratch, 'plain-file');
    await writeFile(file, '');
    const run = await runCli(serverArgs(join(file, 'data')), { timeoutMs: PROMPT_MS });
    assertOnePlainLine(
      run,
      /cannot create data directory .*plain-file\/data: .*plain-file is not a directory \(ENOTDIR\)/,
    );
  });

  for (const [path, filesystem] of [
    ['/proc/eventter-data', 'proc'],
    ['/sys/eventter-data', 'sysfs'],
  ] as const) {
    it(`fails at once, naming the file system, for --data-dir ${path}`, {
      skip: process.platform !== 'linux' && 'Linux pseudo file systems',
    }, async () => {
      const run = await runCli(serverArgs(path), { timeoutMs: PROMPT_MS });
      assertOnePlainLine(
        run,
        new RegExp(`cannot create data directory ${path}: .* ${filesystem} file system`),
      );
    });
  }

  it('names a read-only file system (EROFS), not ENOENT', { timeout: 20_000 }, async (t) => {
    if (process.platform !== 'linux' || process.getuid?.() !== 0) {
      return t.skip('needs root on Linux to mount a read-only tmpfs in a private mount namespace');
    }
    const mountPoint = join(scratch, 'read-only');
    await mkdir(mountPoint);
    // Inside a private mount namespace, so the host never sees the mount; exec keeps node the signalled process.
    const script = `mount -t tmpfs -o ro,size=1m tmpfs '${mountPoint}' && exec "$@"`;
    const run = await runCli(serverArgs(join(mountPoint, 'a', 'data')), {
      command: [
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        script,
        'sh',
        process.execPath,
        CLI_ENTRY,
      ],
      timeoutMs: PROMPT_MS,
    });
    if (run.code !== EXIT_FAILURE && /mount|unshare/.test(run.stderr)) {
      return t.skip(`cannot mount here: ${run.stderr.trim()}`);
    }
    assertOnePlainLine(
      run,
      /cannot create data directory .*read-only\/a\/data: .*read-only is on a read-only file system \(EROFS\)/,
    );
  });
});
