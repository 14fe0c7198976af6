import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { sharedToolPath } from './shared-tools.js';
import { commandWorks, DEBIAN_PYTHON } from './system-packages.js';

/**
 * The real OpenStack Zaqar v2 (Debian zaqar-server 15.0.0, redis message store) the HTTP queue API is compared
 * against. Started with the shared launcher script (it writes Zaqar's config, runs a private redis and
 * supplies the redis Lua scripts Debian's package lacks); EVENTTER_ZAQAR_START names another copy of it, and
 * EVENTTER_TEST_ZAQAR_URL an already running Zaqar instead.
 */
export interface Zaqar {
  url: string;
  stop(): Promise<void>;
}

const DEFAULT_START_SCRIPT = sharedToolPath('zaqar-start.sh');
const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

function startScript(): string {
  return process.env.EVENTTER_ZAQAR_START ?? DEFAULT_START_SCRIPT;
}

/** What is missing for a local Zaqar, or undefined when one can be had. */
export function zaqarUnavailableReason(): string | undefined {
  if (process.env.EVENTTER_TEST_ZAQAR === 'skip') return 'EVENTTER_TEST_ZAQAR=skip';
  if (process.env.EVENTTER_TEST_ZAQAR_URL) return undefined;
  if (!existsSync('/usr/bin/zaqar-server') || !commandWorks('redis-server', ['--version'])) {
    return 'no Zaqar: apt-get install zaqar-server python3-redis redis-server';
  }
  if (!commandWorks(DEBIAN_PYTHON, ['-c', 'import zaqar, falcon, redis'])) {
    return 'no Zaqar: python3-zaqar or python3-redis is missing';
  }
  if (!existsSync(startScript())) {
    return `no Zaqar launcher at ${startScript()} (set EVENTTER_ZAQAR_START to zaqar-start.sh)`;
  }
  return undefined;
}

/** Starts a throwaway Zaqar on a free loopback port; undefined when none is available. */
export async function startZaqar(): Promise<Zaqar | undefined> {
  if (zaqarUnavailableReason() !== undefined) return undefined;
  const external = process.env.EVENTTER_TEST_ZAQAR_URL;
  if (external) return { url: external.replace(/\/+$/, ''), stop: async () => {} };
  const port = await freePort();
  const stateDir = `/tmp/eventter-zaqar-${process.pid}-${port}`;
  const child = spawn(startScript(), [String(port)], {
    env: { ...process.env, ZAQAR_STATE_DIR: stateDir },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: stop() ends zaqar-server and its redis together
  });
  const tail: string[] = [];
  const remember = (chunk: Buffer) => {
    tail.push(chunk.toString('utf8'));
    if (tail.length > 40) tail.shift();
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopGroup(child, exited);
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    await waitUntilServing(url, child);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- zaqar output tail ---\n${tail.join('')}`);
  }
  return { url, stop };
}

async function waitUntilServing(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`zaqar-start.sh exited (${child.exitCode ?? child.signalCode}) before serving`);
    }
    try {
      const res = await fetch(`${url}/v2/ping`, {
        headers: { 'Client-ID': '3381af92-2b9e-11e3-b191-71861300734c', 'X-Project-ID': 'ping' },
      });
      if (res.status === 204) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`zaqar did not serve within ${STARTUP_TIMEOUT_MS} ms`);
    await new Promise((done) => setTimeout(done, 200));
  }
}

async function stopGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  signal('SIGKILL'); // redis may outlive the launcher briefly
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
