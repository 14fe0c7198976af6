import { type ChildProcess, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// Compiled to dist/test/helpers/, so the project root is three levels up.
export const PROJECT_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
export const CLI_ENTRY = join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');

export interface CliRun {
  /** null when the process ended by a signal (e.g. killed after the time limit). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process was still running at the time limit and was killed. */
  timedOut: boolean;
  durationMs: number;
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Runs this program instead of `node <CLI_ENTRY>`: [command, ...args] get `args` appended. */
  command?: string[];
}

/** Runs the CLI to completion (bounded: killed with SIGKILL after timeoutMs) and collects its output. */
export function runCli(args: readonly string[], options: RunOptions = {}): Promise<CliRun> {
  const [command, ...prefix] = options.command ?? [process.execPath, CLI_ENTRY];
  const started = performance.now();
  const child = spawn(command, [...prefix, ...args], {
    cwd: PROJECT_ROOT,
    env: options.env ?? { PATH: process.env.PATH },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs ?? 15_000);
  return new Promise((resolvePromise) => {
    child.once('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr, timedOut, durationMs: performance.now() - started });
    });
  });
}

/** Lines of stdout that are JSON log records at one of the given levels. */
export function logLinesAt(stdout: string, levels: readonly string[]): string[] {
  return stdout.split('\n').filter((line) => {
    try {
      return levels.includes((JSON.parse(line) as { level?: string }).level ?? '');
    } catch {
      return false;
    }
  });
}

/** Resolves with the first stdout JSON record satisfying `match`; rejects if the process exits first. */
export function waitForLogRecord(
  child: ChildProcess,
  match: (record: Record<string, unknown>) => boolean,
  timeoutMs = 15_000,
): Promise<Record<string, unknown>> {
  return new Promise((resolvePromise, reject) => {
    let pending = '';
    const timer = setTimeout(
      () => finish(new Error(`no matching log line within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onData = (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          if (match(record)) return finish(record);
        } catch {
          // npm's banner and other non-JSON lines
        }
      }
    };
    const onExit = (code: number | null) => finish(new Error(`process exited (${code}) before the log line`));
    const finish = (outcome: Record<string, unknown> | Error) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      if (outcome instanceof Error) reject(outcome);
      else resolvePromise(outcome);
    };
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Whether a process with this pid exists (a zombie counts until reaped). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
