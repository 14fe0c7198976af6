import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_CONFIG } from '../../src/server/config.js';
import { DataDirLock } from '../../src/store/data-dir-lock.js';
import { PROJECT_ROOT, processExists, waitForLogRecord } from '../helpers/cli-process.js';
import {
  containerEnvironment,
  lastArgs,
  parseContainerfile,
  parseSystemdUnit,
  single,
  timeSpanMs,
  unitEnvironment,
} from './deploy-files.js';

// What a supervisor does to stop the broker, done for real: the deploy files are parsed (so the test and
// the files cannot drift) and the exact command they run gets the exact stop signal. There is no systemd
// or container engine here, so what is not covered is their own part: creating the user and StateDirectory,
// building the image, delivering the signal.

const UNIT_FILE = join(PROJECT_ROOT, 'deploy', 'eventter.service');
const CONTAINERFILE = join(PROJECT_ROOT, 'deploy', 'Containerfile');
// docker stop / podman stop wait this long before SIGKILL unless told otherwise.
const CONTAINER_STOP_TIMEOUT_MS = 10_000;
const LOOPBACK_ANY_PORT = { EVENTTER_HOSTS: '127.0.0.1', EVENTTER_AMQP_PORT: '0', EVENTTER_HTTP_PORT: '0' };

const npmMissing = spawnSync('npm', ['--version'], { stdio: 'ignore' }).status !== 0 && 'needs npm on PATH';

interface Started {
  child: ChildProcess;
  /** The broker's own pid, from its log (not the wrapper's, for npm start). */
  brokerPid: number;
  stdout: () => string;
  exited: Promise<number | null>;
}

async function startAndWait(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  options: { detached?: boolean } = {},
): Promise<Started> {
  const child = spawn(command, args, {
    cwd: PROJECT_ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const started = await waitForLogRecord(child, (record) => record.msg === 'started').catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`${err.message}\nstdout:\n${stdout}\nstderr:\n${stderr}`);
  });
  return { child, brokerPid: Number(started.pid), stdout: () => stdout, exited };
}

/** Resolves with the exit code, or 'timeout' if the process is still running after timeoutMs. */
async function exitWithin(
  exited: Promise<number | null>,
  timeoutMs: number,
): Promise<number | null | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (processExists(pid)) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** Nobody holds the directory: LOCK is gone and the lock can be taken at once. */
async function assertNoLockHolder(dataDir: string): Promise<void> {
  assert.equal(existsSync(join(dataDir, 'LOCK')), false, 'LOCK removed by a graceful stop');
  await (await DataDirLock.acquire(dataDir)).release();
}

function killIfRunning(pid: number): void {
  if (processExists(pid)) process.kill(pid, 'SIGKILL');
}

/**
 * `npm install -g` into a private prefix, as an operator would install the command, so it is found on PATH
 * with npm's own bin link and executable bit. The package installed is a copy of package.json without
 * dependencies (they resolve from the project's node_modules, next to the real dist/), so npm needs no
 * network and cannot touch the project's node_modules.
 */
async function installEventterCommand(root: string): Promise<string> {
  const manifest = JSON.parse(readFileSync(join(PROJECT_ROOT, 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const packageDir = join(root, 'package');
  await mkdir(packageDir);
  const { name, version, type, bin } = manifest;
  await writeFile(join(packageDir, 'package.json'), JSON.stringify({ name, version, type, bin }));
  await symlink(join(PROJECT_ROOT, 'dist'), join(packageDir, 'dist'));
  const prefix = join(root, 'prefix');
  const install = spawnSync(
    'npm',
    [
      'install',
      '--global',
      '--prefix',
      prefix,
      '--offline',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      packageDir,
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  assert.equal(install.status, 0, `npm install -g failed:\n${install.stdout}\n${install.stderr}`);
  const binDir = join(prefix, 'bin');
  assert.ok(existsSync(join(binDir, 'eventter')), 'npm put an eventter command in the prefix bin');
  return binDir;
}

describe('stopping the broker the way supervisors do', { skip: npmMissing, timeout: 180_000 }, () => {
  let scratch: string;
  let binDir: string;
  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'eventter-deploy-'));
    binDir = await installEventterCommand(scratch);
  });
  after(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  const pathWithCommand = () => `${binDir}${delimiter}${process.env.PATH ?? ''}`;

  it('npm start: SIGTERM to npm (a container runtime stopping PID 1) stops the broker, exit 0', async () => {
    const dataDir = join(scratch, 'npm-term');
    const started = await startAndWait(
      'npm',
      [
        'start',
        '--',
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
      ],
      process.env,
    );
    try {
      started.child.kill('SIGTERM');
      assert.equal(await exitWithin(started.exited, 15_000), 0, 'npm exits 0');
      assert.ok(await waitUntilGone(started.brokerPid, 5_000), 'the broker process is gone, not orphaned');
      assert.match(started.stdout(), /"msg":"stopped"/);
      await assertNoLockHolder(dataDir);
    } finally {
      killIfRunning(started.brokerPid);
    }
  });

  it('npm start: Ctrl-C (SIGINT to the process group, which npm forwards too) is still one graceful stop', async () => {
    const dataDir = join(scratch, 'npm-int');
    const started = await startAndWait(
      'npm',
      [
        'start',
        '--',
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
      ],
      process.env,
      { detached: true },
    );
    try {
      process.kill(-(started.child.pid ?? 0), 'SIGINT');
      assert.notEqual(await exitWithin(started.exited, 15_000), 'timeout');
      assert.ok(await waitUntilGone(started.brokerPid, 5_000), 'the broker process is gone');
      assert.match(started.stdout(), /"msg":"stopped"/);
      assert.doesNotMatch(started.stdout(), /second signal/);
      await assertNoLockHolder(dataDir);
    } finally {
      killIfRunning(started.brokerPid);
    }
  });

  it('systemd unit: its ExecStart, sent its KillSignal, exits 0 within its TimeoutStopSec', async () => {
    const unit = parseSystemdUnit(readFileSync(UNIT_FILE, 'utf8'));
    assert.equal(single(unit, 'Type'), 'simple');
    assert.equal(single(unit, 'Restart'), 'on-failure');
    assert.match(
      single(unit, 'RestartPreventExitStatus'),
      /\b2\b/,
      'a bad configuration (exit 2) is not retried',
    );
    const killSignal = single(unit, 'KillSignal') as NodeJS.Signals;
    const timeoutStopMs = timeSpanMs(single(unit, 'TimeoutStopSec'));
    const execStart = single(unit, 'ExecStart');
    assert.doesNotMatch(
      execStart,
      /^[-@+!:]|["'$%\\;|&]/,
      'a plain command line: no shell, prefixes or specifiers',
    );
    const [program, ...args] = execStart.split(/\s+/);
    assert.equal(basename(program), 'eventter');
    const environment = unitEnvironment(unit);
    assert.equal(environment.EVENTTER_DATA_DIR, `/var/lib/${single(unit, 'StateDirectory')}`);

    const dataDir = join(scratch, 'systemd-state'); // stands in for the StateDirectory
    // A bare name is looked up like systemd's search path would; an absolute one maps to the same command.
    const command = program.includes('/') ? join(binDir, basename(program)) : program;
    const started = await startAndWait(command, args, {
      PATH: pathWithCommand(),
      ...environment,
      EVENTTER_DATA_DIR: dataDir,
      ...LOOPBACK_ANY_PORT, // as the optional EnvironmentFile would set them
    });
    try {
      assert.equal(
        started.brokerPid,
        started.child.pid,
        'the command is the broker itself: no shell in between',
      );
      started.child.kill(killSignal);
      assert.equal(await exitWithin(started.exited, timeoutStopMs), 0);
      await assertNoLockHolder(dataDir);
    } finally {
      killIfRunning(started.brokerPid);
    }
  });

  it('Containerfile: its ENTRYPOINT, sent its STOPSIGNAL, exits 0 within the stop grace period', async () => {
    const image = parseContainerfile(readFileSync(CONTAINERFILE, 'utf8'));
    const entrypoint = JSON.parse(lastArgs(image, 'ENTRYPOINT') ?? 'null') as string[];
    assert.ok(
      Array.isArray(entrypoint),
      'exec form: the shell form would make /bin/sh PID 1 and swallow SIGTERM',
    );
    const stopSignal = (lastArgs(image, 'STOPSIGNAL') ?? 'SIGTERM') as NodeJS.Signals;
    const environment = containerEnvironment(image);
    assert.equal(
      lastArgs(image, 'VOLUME'),
      environment.EVENTTER_DATA_DIR,
      'the data directory is the volume',
    );
    const exposed = (lastArgs(image, 'EXPOSE') ?? '').split(/\s+/);
    assert.ok(
      exposed.includes(String(DEFAULT_CONFIG.amqpPort)) && exposed.includes(String(DEFAULT_CONFIG.httpPort)),
    );
    assert.match(readFileSync(CONTAINERFILE, 'utf8'), /^FROM node:20-slim/m);

    const dataDir = join(scratch, 'container-volume');
    const [program, ...args] = entrypoint;
    assert.equal(program, 'eventter', 'found on PATH, where the image links the package bin');
    const started = await startAndWait(program, args, {
      PATH: pathWithCommand(),
      ...environment,
      EVENTTER_DATA_DIR: dataDir,
      ...LOOPBACK_ANY_PORT, // as `-e` options of `docker run` would set them
    });
    try {
      assert.equal(
        started.brokerPid,
        started.child.pid,
        'the entrypoint is the broker itself (PID 1 in the container)',
      );
      started.child.kill(stopSignal);
      assert.equal(await exitWithin(started.exited, CONTAINER_STOP_TIMEOUT_MS), 0);
      await assertNoLockHolder(dataDir);
    } finally {
      killIfRunning(started.brokerPid);
    }
  });
});
