import { spawn } from 'node:child_process';
import { DEBIAN_PYTHON } from './system-packages.js';

export interface PythonRun {
  /** null when killed at the time limit. */
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a Python script with the Debian interpreter (where python3-pika lives), bounded in time. */
export function runPython(script: string, args: readonly string[], timeoutMs = 60_000): Promise<PythonRun> {
  return new Promise((resolve) => {
    const child = spawn(DEBIAN_PYTHON, ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
