import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  DataDirInUseError,
  DataDirLock,
  LOCK_FILE,
  type LockNamespace,
} from '../../src/store/data-dir-lock.js';
import { tempDir } from './helpers.js';

const LOCK_MODULE = fileURLToPath(new URL('../../src/store/data-dir-lock.js', import.meta.url));
const HOLDER_READY_MS = 10_000;

function holderScript(dataDir: string, namespace: LockNamespace): string {
  return `
    const { DataDirLock } = await import(${JSON.stringify(LOCK_MODULE)});
    await DataDirLock.acquire(${JSON.stringify(dataDir)}, ${JSON.stringify(namespace)});
    console.log('locked');
    setInterval(() => {}, 1000);`;
}

/** Resolves with everything the child printed once `pattern` shows up in it. */
function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} in time: ${output}`)), HOLDER_READY_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (pattern.test(output)) {
        clearTimeout(timer);
        resolve(output);
      }
    });
    child.once('exit', (code) => reject(new Error(`exited early with ${code}: ${output}`)));
  });
}

/** Another process holding the lock until it is killed. */
async function spawnHolder(dataDir: string, namespace: LockNamespace): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', holderScript(dataDir, namespace)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitForOutput(child, /locked/);
  return child;
}

function processState(pid: number): string | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** A live process that has nothing to do with any broker: its pid stands in for a recycled one. */
function spawnBystander(): ChildProcess {
  return spawn('sleep', ['60'], { stdio: 'ignore' });
}

const namespaces: LockNamespace[] = process.platform === 'linux' ? ['abstract', 'file'] : ['file'];

for (const namespace of namespaces) {
  describe(`data directory lock (${namespace} socket)`, () => {
    it('is exclusive while held, writes the pid into LOCK and is free again after release', async () => {
      const dir = tempDir('lock-test-');
      try {
        const lock = await DataDirLock.acquire(dir, namespace);
        assert.equal((await readFile(join(dir, LOCK_FILE), 'utf8')).trim(), String(process.pid));
        await assert.rejects(DataDirLock.acquire(dir, namespace), (err: unknown) => {
          assert.ok(err instanceof DataDirInUseError);
          assert.equal(err.holderPid, process.pid);
          assert.match(err.message, new RegExp(`in use by process ${process.pid}`));
          return true;
        });
        await lock.release();
        assert.equal(existsSync(join(dir, LOCK_FILE)), false, 'release removes LOCK');
        await (await DataDirLock.acquire(dir, namespace)).release();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('refuses while another live process holds it, naming that process', async () => {
      const dir = tempDir('lock-test-');
      const holder = await spawnHolder(dir, namespace);
      try {
        await assert.rejects(DataDirLock.acquire(dir, namespace), (err: unknown) => {
          assert.ok(err instanceof DataDirInUseError);
          assert.equal(err.holderPid, holder.pid);
          return true;
        });
      } finally {
        await kill9(holder);
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('is free once the holder is killed with -9, even when LOCK names a live process', async () => {
      const dir = tempDir('lock-test-');
      const bystander = spawnBystander();
      try {
        await kill9(await spawnHolder(dir, namespace));
        // A pid from LOCK that now belongs to someone else (after a reboot, routinely) must not matter.
        await writeFile(join(dir, LOCK_FILE), `${bystander.pid}\n`);
        const lock = await DataDirLock.acquire(dir, namespace);
        assert.equal((await readFile(join(dir, LOCK_FILE), 'utf8')).trim(), String(process.pid));
        await lock.release();
      } finally {
        await kill9(bystander);
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}

describe('data directory lock after kill -9', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  it('is free while the killed holder is still a zombie that LOCK names', async () => {
    const dir = tempDir('lock-test-');
    // sh starts the holder in the background, then becomes `sleep`, which never reaps it: once killed,
    // the holder stays a zombie, and a zombie's pid still answers kill(pid, 0).
    const parent = spawn(
      'sh',
      [
        '-c',
        '"$0" --input-type=module -e "$1" & echo "holder $!"; exec sleep 60',
        process.execPath,
        holderScript(dir, 'abstract'),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const output = await waitForOutput(parent, /holder \d+[\s\S]*locked|locked[\s\S]*holder \d+/);
      const holderPid = Number(/holder (\d+)/.exec(output)?.[1]);
      process.kill(holderPid, 'SIGKILL');
      for (let i = 0; i < 500 && processState(holderPid) !== 'Z'; i++)
        await new Promise((r) => setTimeout(r, 20));
      assert.equal(processState(holderPid), 'Z', 'the killed holder is a zombie');
      assert.equal((await readFile(join(dir, LOCK_FILE), 'utf8')).trim(), String(holderPid));
      await (await DataDirLock.acquire(dir, 'abstract')).release();
    } finally {
      await kill9(parent);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('data directory lock identity', {
  skip: process.platform !== 'linux' && 'abstract sockets are Linux-only',
}, () => {
  it('is the directory, not the path: a symlink to a held directory is refused', async () => {
    const dir = tempDir('lock-test-');
    const link = `${dir}-link`;
    const { symlink } = await import('node:fs/promises');
    await symlink(dir, link);
    const lock = await DataDirLock.acquire(dir);
    try {
      await assert.rejects(DataDirLock.acquire(link), DataDirInUseError);
    } finally {
      await lock.release();
      await rm(link, { force: true });
      await rm(dir, { recursive: true, force: true });
    }
  });
});
