/**
 * Starts an EventterMQ server as a child process on ephemeral ports with a throwaway data directory,
 * for `npm run bench` and the bench tests. The CLI is found next to this module (dist/src/cli/main.js).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface LocalBroker {
  url: string;
  pid: number;
  dataDir: string;
  /** SIGTERM, wait for exit (SIGKILL after a grace period), remove the data directory. */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_GRACE_MS = 10_000;
const MAX_LOG_LINE = 64 * 1024;

const CLI_ENTRY = fileURLToPath(new URL('../cli/main.js', import.meta.url));

interface ListeningLine {
  msg?: unknown;
  protocol?: unknown;
  port?: unknown;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startLocalBroker(extraArgs: string[] = []): Promise<LocalBroker> {
  const dataDir = await mkdtemp(join(tmpdir(), 'eventter-bench-'));
  const args = [
    CLI_ENTRY,
    'server',
    '--amqp-port',
    '0',
    '--http-port',
    '0',
    '--mqtt-port',
    '0',
    '--data-dir',
    dataDir,
    ...extraArgs,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let pending = '';
      const timer = setTimeout(
        () => reject(new Error('broker did not report listening in time')),
        STARTUP_TIMEOUT_MS,
      );
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`broker exited with code ${code} before listening`));
      });
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (s: string) => {
        tail.push(s.slice(0, MAX_LOG_LINE));
        if (tail.length > 20) tail.shift();
      });
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (s: string) => {
        pending += s;
        let nl = pending.indexOf('\n');
        while (nl >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          nl = pending.indexOf('\n');
          tail.push(line.slice(0, MAX_LOG_LINE));
          if (tail.length > 20) tail.shift();
          let parsed: ListeningLine;
          try {
            parsed = JSON.parse(line) as ListeningLine;
          } catch {
            continue;
          }
          if (parsed.msg === 'listening' && parsed.protocol === 'amqp' && typeof parsed.port === 'number') {
            clearTimeout(timer);
            resolve(parsed.port);
          }
        }
        if (pending.length > MAX_LOG_LINE) pending = '';
      });
    });
    // Keep draining the log so the child never blocks on a full pipe.
    child.stdout?.removeAllListeners('data');
    child.stdout?.resume();
    child.removeAllListeners('exit');
    return {
      url: `amqp://guest:guest@127.0.0.1:${port}`,
      pid: child.pid ?? 0,
      dataDir,
      async stop() {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await waitForExit(child);
        clearTimeout(killer);
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child.kill('SIGKILL');
    await waitForExit(child);
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`${(err as Error).message}\n${tail.join('\n')}`);
  }
}
