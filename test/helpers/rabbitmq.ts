import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { sharedToolPath } from './shared-tools.js';

/** A real RabbitMQ the differential tests compare EventterMQ against. */
export interface RabbitMq {
  url: string;
  /** Present only when this helper started the node itself. */
  nodeName?: string;
  /** Runs `rabbitmqctl <args>` against the node this helper started (e.g. set_policy); stdout. */
  rabbitmqctl(args: string[]): Promise<string>;
  /** Stops the node this helper started and removes its state; no-op for an external one. */
  stop(): Promise<void>;
}

const RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server';
const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
const START_SCRIPT = sharedToolPath('rabbitmq-start.sh');
const STARTUP_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
const POLL_MS = 250;
// Erlang distribution listens on the AMQP port + 20000, so both must be free and below 65536.
const DIST_PORT_OFFSET = 20_000;
const PORT_RANGE = { low: 5700, high: 9999 };

/** The URL of an already running RabbitMQ to compare against, if one is configured. */
export function externalRabbitMqUrl(): string | undefined {
  const url = process.env.EVENTTER_TEST_RABBITMQ_URL;
  return url !== undefined && url.length > 0 ? url : undefined;
}

/**
 * True when a RabbitMQ can be had: an external URL, or the Debian package to start one from.
 * EVENTTER_TEST_RABBITMQ=skip pretends there is none (a quick EventterMQ-only run).
 */
export function rabbitMqAvailable(): boolean {
  if (process.env.EVENTTER_TEST_RABBITMQ === 'skip') return false;
  return externalRabbitMqUrl() !== undefined || existsSync(RABBITMQ_SERVER);
}

/**
 * Starts a throwaway RabbitMQ node (or wraps EVENTTER_TEST_RABBITMQ_URL); undefined when none is available.
 * Boots in ~10 s, so a test file should start one and share it.
 */
export async function startRabbitMq(): Promise<RabbitMq | undefined> {
  if (!rabbitMqAvailable()) return undefined;
  const external = externalRabbitMqUrl();
  if (external !== undefined) {
    return {
      url: external,
      rabbitmqctl: async () => {
        throw new Error('rabbitmqctl is unavailable for an external RabbitMQ');
      },
      stop: async () => {},
    };
  }
  return spawnNode();
}

async function spawnNode(): Promise<RabbitMq> {
  const stateDir = await mkdtemp(join(tmpdir(), 'eventter-rmq-'));
  const port = await freePortPair();
  const nodeName = `eventter-diff-${process.pid}-${port}@localhost`;
  const env = nodeEnv(stateDir, nodeName, port);
  // A shared epmd daemon outlives this node; the script's own epmd then exits, so stopping
  // this node's process group cannot take the name service away from other nodes on this host.
  await runQuietly('epmd', ['-daemon']);
  // The shared start script when this machine has it; elsewhere (CI) the server itself, with the same env.
  const [command, args] = existsSync(START_SCRIPT) ? [START_SCRIPT, [String(port)]] : [RABBITMQ_SERVER, []];
  const child = spawn(command, args, {
    env: { ...env, RMQ_STATE_DIR: stateDir, RMQ_NODENAME: nodeName },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so stop() ends beam and its helpers together
  });
  const tail: string[] = [];
  const remember = (chunk: Buffer): void => {
    tail.push(chunk.toString('utf8'));
    if (tail.length > 40) tail.shift();
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await stopGroup(child, exited);
    await rm(stateDir, { recursive: true, force: true });
  };
  try {
    await waitUntilAccepting(url, child);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- rabbitmq output tail ---\n${tail.join('')}`);
  }
  return {
    url,
    nodeName,
    rabbitmqctl: (args) => runCapture(RABBITMQCTL, args, env),
    stop,
  };
}

function nodeEnv(stateDir: string, nodeName: string, port: number): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: stateDir, // the Erlang cookie lives here; rabbitmqctl must see the same one
    RABBITMQ_MNESIA_BASE: join(stateDir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(stateDir, 'log'),
    RABBITMQ_NODENAME: nodeName,
    RABBITMQ_NODE_PORT: String(port),
  };
}

async function waitUntilAccepting(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`rabbitmq-server exited (${child.exitCode ?? child.signalCode}) before accepting`);
    }
    try {
      const conn = await amqp.connect(url);
      conn.on('error', () => {});
      await conn.close();
      return;
    } catch {
      // Not up yet: the listener opens late in the boot sequence.
    }
    if (Date.now() > deadline)
      throw new Error(`rabbitmq did not accept AMQP within ${STARTUP_TIMEOUT_MS} ms`);
    await new Promise((done) => setTimeout(done, POLL_MS));
  }
}

async function stopGroup(child: ChildProcess, exited: Promise<void>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  signalGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  // beam may outlive the shell wrapper briefly; make sure nothing of this group is left.
  signalGroup(pid, 'SIGKILL');
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low));
    if ((await portFree(port)) && (await portFree(port + DIST_PORT_OFFSET))) return port;
  }
  throw new Error('no free port pair for RabbitMQ');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', () => done(false));
    server.listen(port, '0.0.0.0', () => server.close(() => done(true)));
  });
}

function runCapture(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((done, fail) => {
    execFile(file, args, { env, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else done(stdout);
    });
  });
}

function runQuietly(file: string, args: string[]): Promise<void> {
  return new Promise((done) => {
    execFile(file, args, { timeout: 10_000 }, () => done());
  });
}
