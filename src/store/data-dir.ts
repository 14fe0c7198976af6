import { stat, statfs } from 'node:fs/promises';
import { dirname, join, parse, resolve, sep } from 'node:path';
import { makeDir } from './fs-io.js';

/** The data directory cannot be created or used; the message names the directory and the cause. */
export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

// Linux statfs f_type values of file systems that hold no ordinary directories (linux/magic.h).
const PSEUDO_FILESYSTEMS = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x1cd1, 'devpts'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
]);

/** Creates the data directory (and missing parents); failures become a DataDirError naming the real cause. */
export async function createDataDir(dataDir: string, fsync: boolean): Promise<void> {
  try {
    await makeDir(dataDir, fsync);
  } catch (err) {
    const cause = await explainCreateFailure(resolve(dataDir), err as NodeJS.ErrnoException);
    throw new DataDirError(`cannot create data directory ${dataDir}: ${cause}`, { cause: err });
  }
}

async function explainCreateFailure(dataDir: string, err: NodeJS.ErrnoException): Promise<string> {
  const code = err.code ?? 'error';
  const failedPath = err.path ?? dataDir;
  const parent = dirname(failedPath);
  const pseudo = await pseudoFilesystem(parent);
  if (pseudo !== undefined && err.syscall === 'mkdir') {
    return `${parent} is on a ${pseudo} file system, which cannot hold a data directory (mkdir failed with ${code})`;
  }
  switch (code) {
    case 'ENOTDIR': {
      const file = (await firstNonDirectory(dataDir)) ?? failedPath;
      return `${file} is not a directory (ENOTDIR)`;
    }
    case 'EROFS':
      return `${parent} is on a read-only file system (EROFS)`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied creating ${failedPath} (${code}); the broker runs as uid ${process.getuid?.() ?? '?'}`;
    case 'ENOSPC':
      return `no space left on the device holding ${parent} (ENOSPC)`;
    default:
      return err.message;
  }
}

/** The pseudo file system (proc, sysfs, ...) a path is on, if any; Linux only. */
async function pseudoFilesystem(path: string): Promise<string | undefined> {
  if (process.platform !== 'linux') return undefined;
  try {
    return PSEUDO_FILESYSTEMS.get((await statfs(path)).type);
  } catch {
    return undefined;
  }
}

/** The first existing path component that is not a directory: the file a mkdir -p stumbled over. */
async function firstNonDirectory(path: string): Promise<string | undefined> {
  const { root } = parse(path);
  let current = root;
  for (const part of path
    .slice(root.length)
    .split(sep)
    .filter((p) => p.length > 0)) {
    current = join(current, part);
    try {
      if (!(await stat(current)).isDirectory()) return current;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
