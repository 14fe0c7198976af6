import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** True in CI (CI=true), where .ci/run installs the system packages tests need. */
export function isCi(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

/**
 * A test cannot run because a system package is missing: in CI that is a failure (a skip would hide a
 * regression), elsewhere a skip that says what to install.
 */
export function missingSystemPackage(t: TestContext, reason: string): void {
  if (isCi()) assert.fail(`${reason} (CI installs it: see .ci/run)`);
  t.skip(reason);
}

/**
 * For a whole describe(): the reason to skip when the package is missing outside CI; false otherwise, so in
 * CI the tests run and fail on the missing tool.
 */
export function skipWithout(available: boolean, reason: string): string | false {
  return !available && !isCi() ? reason : false;
}

/** Whether a command runs and exits 0, e.g. ['openssl', 'version']. */
export function commandWorks(command: string, args: readonly string[]): boolean {
  const run = spawnSync(command, args, { stdio: 'ignore', timeout: 15_000 });
  return run.error === undefined && run.status === 0;
}

export const DEBIAN_PYTHON = '/usr/bin/python3';

export function opensslAvailable(): boolean {
  return commandWorks('openssl', ['version']);
}

/** pika for the Debian Python (python3-pika), the one CI installs. */
export function pikaAvailable(): boolean {
  return commandWorks(DEBIAN_PYTHON, ['-c', 'import pika']);
}
