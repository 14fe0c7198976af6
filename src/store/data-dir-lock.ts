import { readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * One broker per data directory, held by a listening Unix socket rather than a pid file: the kernel closes
 * the socket when the process dies however it dies (kill -9, OOM, power cut), so there is no stale lock to
 * judge, and a recycled pid or a zombie cannot keep a directory locked.
 *
 * - 'abstract' (Linux): the socket is named in the kernel's abstract namespace after the directory's
 *   device and inode, so every path to the directory (symlinks, bind mounts) maps to one name. Its scope is
 *   the network namespace: brokers in two containers sharing one volume do not see each other's lock.
 * - 'file' (other systems): a socket file `.lock.sock` in the directory. One left by a dead broker refuses
 *   connections and is replaced; two brokers starting in the same instant could both replace it.
 *
 * `LOCK` in the directory keeps the holder's pid, for humans and for the refusal message.
 */
export type LockNamespace = 'abstract' | 'file';

export const LOCK_FILE = 'LOCK';
const SOCKET_FILE = '.lock.sock';
// sun_path holds 108 bytes on Linux and 104 on macOS, including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 103;
const PROBE_TIMEOUT_MS = 2000;

export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
  constructor(
    readonly dataDir: string,
    readonly holderPid: number | undefined,
  ) {
    const holder = holderPid === undefined ? 'another process' : `process ${holderPid}`;
    super(
      `data directory ${dataDir} is in use by ${holder} (another broker?); stop it or choose another one`,
    );
  }
}

export class DataDirLock {
  private released = false;

  private constructor(
    private readonly dataDir: string,
    private readonly server: Server,
  ) {}

  /** Takes the lock of an existing directory or throws DataDirInUseError if a live process holds it. */
  static async acquire(
    dataDir: string,
    namespace: LockNamespace = process.platform === 'linux' ? 'abstract' : 'file',
  ): Promise<DataDirLock> {
    const { dev, ino } = await stat(dataDir, { bigint: true });
    const server =
      namespace === 'abstract'
        ? await listenOrRefuse(`\0eventter-lock:${dev}:${ino}`, dataDir)
        : await listenOnSocketFile(socketFilePath(dataDir, `${dev}-${ino}`), dataDir);
    try {
      await writeFile(join(dataDir, LOCK_FILE), `${process.pid}\n`);
    } catch (err) {
      await closeServer(server);
      throw err;
    }
    return new DataDirLock(dataDir, server);
  }

  /** Removes LOCK, then lets go of the socket. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    try {
      await rm(join(this.dataDir, LOCK_FILE), { force: true });
    } finally {
      await closeServer(this.server);
    }
  }
}

function socketFilePath(dataDir: string, identity: string): string {
  const inDir = join(dataDir, SOCKET_FILE);
  // A deep data directory would overflow sun_path; the temp directory is short and shared by the machine.
  return Buffer.byteLength(inDir) <= MAX_SOCKET_PATH_BYTES
    ? inDir
    : join(tmpdir(), `eventter-lock-${identity}.sock`);
}

async function listenOnSocketFile(path: string, dataDir: string): Promise<Server> {
  try {
    return await listen(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  }
  // The file exists. A live holder accepts a connection; the file of a dead one refuses it.
  if (await socketAnswers(path)) throw new DataDirInUseError(dataDir, await lockHolderPid(dataDir));
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  return listenOrRefuse(path, dataDir);
}

async function listenOrRefuse(path: string, dataDir: string): Promise<Server> {
  try {
    return await listen(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    throw new DataDirInUseError(dataDir, await lockHolderPid(dataDir));
  }
}

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Anyone probing the lock (another broker on a non-Linux system) learns enough from the accept.
    const server = createServer((socket) => socket.destroy());
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      server.unref(); // the lock must not keep a stopping process alive
      resolve(server);
    });
  });
}

function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const done = (answer: boolean | Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (answer instanceof Error) reject(answer);
      else resolve(answer);
    };
    // A holder too busy to accept within the timeout is still a holder.
    const timer = setTimeout(() => done(true), PROBE_TIMEOUT_MS);
    socket.once('connect', () => done(true));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') done(false);
      else done(err);
    });
  });
}

async function lockHolderPid(dataDir: string): Promise<number | undefined> {
  try {
    const pid = Number((await readFile(join(dataDir, LOCK_FILE), 'utf8')).trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
