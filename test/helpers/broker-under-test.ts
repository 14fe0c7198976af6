import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A broker an integration test talks to: a spawned EventterMQ process, or an external one (RabbitMQ). */
export interface BrokerUnderTest {
  url: string;
  amqpPort: number;
  /** The amqps (AMQP over TLS) port, when the broker was started with a TLS certificate. */
  amqpsPort?: number;
  /** The HTTP port (HTTPS with --http-tls). */
  httpPort: number;
  /** The MQTT port, unless MQTT is off (--no-mqtt). */
  mqttPort?: number;
  /** The MQTT over TLS port, when the broker was started with a TLS certificate. */
  mqttsPort?: number;
  dataDir: string;
  /** Present only when this helper spawned EventterMQ itself. */
  process?: ChildProcess;
  /** Graceful stop (SIGTERM by default); resolves with the exit code. No-op for an external broker. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL, then wait until the process is gone. No-op for an external broker. */
  kill9(): Promise<void>;
}

export interface StartBrokerOptions {
  dataDir?: string;
  extraArgs?: string[];
  env?: Record<string, string>;
  /**
   * A command that runs the broker, e.g. ['nsenter', '--target', pid, '--mount', '--'] to start it inside a
   * mount namespace. It must exec node (not fork), so signals reach the broker itself.
   */
  commandPrefix?: string[];
  /** Sees every line the broker writes to stdout (its JSON log). */
  onLogLine?: (line: string) => void;
}

const STARTUP_TIMEOUT_MS = 15_000;
const LOG_TAIL_LINES = 40;

// Compiled to dist/test/helpers/, so the project root is three levels up.
const PROJECT_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
const CLI_ENTRY = join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');

/** The URL of an external broker to test instead of EventterMQ, if one is configured. */
export function externalBrokerUrl(): string | undefined {
  const url = process.env.EVENTTER_TEST_AMQP_URL;
  return url && url.length > 0 ? url : undefined;
}

/** True when tests run against a broker this process cannot restart or kill (e.g. RabbitMQ). */
export function isExternalBroker(): boolean {
  return externalBrokerUrl() !== undefined;
}

export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerUnderTest> {
  const external = externalBrokerUrl();
  if (external !== undefined) return externalBroker(external);
  const dataDir = opts.dataDir ?? (await mkdtemp(join(tmpdir(), 'eventter-test-')));
  return spawnEventter(dataDir, opts);
}

function externalBroker(url: string): BrokerUnderTest {
  const parsed = new URL(url);
  return {
    url,
    amqpPort: parsed.port === '' ? 5672 : Number(parsed.port),
    httpPort: Number(process.env.EVENTTER_TEST_HTTP_PORT ?? 0),
    dataDir: '',
    stop: async () => null,
    kill9: async () => {},
  };
}

interface ListeningLine {
  msg?: unknown;
  protocol?: unknown;
  host?: unknown;
  port?: unknown;
}

function spawnEventter(dataDir: string, opts: StartBrokerOptions): Promise<BrokerUnderTest> {
  const args = [
    CLI_ENTRY,
    'server',
    '--amqp-port',
    '0',
    '--http-port',
    '0',
    '--mqtt-port',
    '0',
    '--mqtts-port',
    '0',
    '--data-dir',
    dataDir,
    '--log-level',
    'info',
    ...(opts.extraArgs ?? []),
  ];
  const [command, ...prefixArgs] = [...(opts.commandPrefix ?? []), process.execPath];
  const child = spawn(command, [...prefixArgs, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((done) => {
    child.once('exit', (code) => done(code));
  });
  const tail: string[] = [];
  const remember = (line: string): void => {
    tail.push(line);
    if (tail.length > LOG_TAIL_LINES) tail.shift();
  };

  return new Promise<BrokerUnderTest>((resolvePromise, rejectPromise) => {
    let amqp: { host: string; port: number } | undefined;
    let amqpsPort: number | undefined;
    let mqttPort: number | undefined;
    let mqttsPort: number | undefined;
    let httpPort: number | undefined;
    let settled = false;
    let pending = '';

    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      rejectPromise(new Error(`${why}\n--- server log tail ---\n${tail.join('\n')}`));
    };
    const timer = setTimeout(
      () => fail(`broker did not report listening within ${STARTUP_TIMEOUT_MS} ms`),
      STARTUP_TIMEOUT_MS,
    );

    const onLine = (line: string): void => {
      remember(line);
      opts.onLogLine?.(line);
      if (settled) return;
      let parsed: ListeningLine;
      try {
        parsed = JSON.parse(line) as ListeningLine;
      } catch {
        return; // not a pino line; keep it for the tail only
      }
      if (parsed.msg === 'listening' && typeof parsed.port === 'number') {
        if (parsed.protocol === 'amqp') {
          amqp = { host: typeof parsed.host === 'string' ? parsed.host : '127.0.0.1', port: parsed.port };
        } else if (parsed.protocol === 'amqps') {
          amqpsPort = parsed.port;
        } else if (parsed.protocol === 'mqtt') {
          mqttPort = parsed.port;
        } else if (parsed.protocol === 'mqtts') {
          mqttsPort = parsed.port;
        } else if (parsed.protocol === 'http' || parsed.protocol === 'https') {
          httpPort = parsed.port;
        }
      }
      // Every listener is logged before "started".
      if (parsed.msg !== 'started' || amqp === undefined || httpPort === undefined) return;
      settled = true;
      clearTimeout(timer);
      resolvePromise(
        makeHandle(child, exited, dataDir, { amqpPort: amqp.port, amqpsPort, mqttPort, mqttsPort, httpPort }),
      );
    };

    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline >= 0) {
        onLine(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
      }
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      for (const line of chunk.split('\n')) if (line.length > 0) remember(`[stderr] ${line}`);
    });
    child.once('error', (err) => fail(`could not spawn broker: ${err.message}`));
    void exited.then((code) => fail(`broker exited with code ${code} before listening`));
  });
}

function makeHandle(
  child: ChildProcess,
  exited: Promise<number | null>,
  dataDir: string,
  ports: {
    amqpPort: number;
    amqpsPort: number | undefined;
    mqttPort: number | undefined;
    mqttsPort: number | undefined;
    httpPort: number;
  },
): BrokerUnderTest {
  const isRunning = (): boolean => child.exitCode === null && child.signalCode === null;
  return {
    // Always loopback: the tests never reach beyond this machine.
    url: `amqp://guest:guest@127.0.0.1:${ports.amqpPort}`,
    ...ports,
    dataDir,
    process: child,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (isRunning()) child.kill(signal);
      return exited;
    },
    async kill9() {
      if (isRunning()) child.kill('SIGKILL');
      await exited;
    },
  };
}
