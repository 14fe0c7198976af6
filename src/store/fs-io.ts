/** Small promise/callback wrappers around positional fd I/O that loop over short reads and writes. */
import fs from 'node:fs';
import path from 'node:path';

/** Reads up to len bytes at file position pos into buf[off]; returns the bytes read (less only at EOF). */
export function readFull(fd: number, buf: Buffer, off: number, len: number, pos: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const step = () => {
      fs.read(fd, buf, off + done, len - done, pos + done, (err, n) => {
        if (err) return reject(err);
        done += n;
        if (n === 0 || done === len) return resolve(done);
        step();
      });
    };
    if (len === 0) resolve(0);
    else step();
  });
}

/** Writes all of bufs at file position pos, continuing after short writes. */
export function writevFull(fd: number, bufs: Buffer[], pos: number, cb: (err: Error | null) => void): void {
  let total = 0;
  for (const b of bufs) total += b.length;
  const step = (list: Buffer[], at: number, left: number) => {
    fs.writev(fd, list, at, (err, n) => {
      if (err) return cb(err);
      if (n >= left) return cb(null);
      // Short write: drop what was written and continue with the rest.
      let skip = n;
      let i = 0;
      while (skip >= list[i].length) skip -= list[i++].length;
      const rest = list.slice(i);
      rest[0] = rest[0].subarray(skip);
      step(rest, at + n, left - n);
    });
  };
  if (total === 0) cb(null);
  else step(bufs, pos, total);
}

export function openFile(path: string, flags: string | number): Promise<number> {
  return new Promise((resolve, reject) =>
    fs.open(path, flags, 0o644, (e, fd) => (e ? reject(e) : resolve(fd))),
  );
}

export function closeFile(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (e) => (e ? reject(e) : resolve())));
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

export function writeAll(fd: number, buf: Buffer, pos: number): Promise<void> {
  return new Promise((resolve, reject) => writevFull(fd, [buf], pos, (e) => (e ? reject(e) : resolve())));
}

/** fsyncs a directory so that file creations, renames and unlinks in it survive a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fd = await openFile(dir, 'r');
  try {
    await new Promise<void>((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
  } finally {
    await closeFile(fd);
  }
}

export function truncateFile(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, length, (e) => (e ? reject(e) : resolve())));
}

/**
 * mkdir -p that, with fsync on, also fsyncs the parent of every directory it created: a new directory's
 * entry lives in its parent, and files created in it later are lost with it if that entry never reached disk.
 *
 * It creates one level at a time rather than with mkdir({ recursive: true }): Node's recursive mkdir retries
 * forever where mkdir fails with ENOENT under an existing parent (e.g. /proc), and reports ENOENT instead of
 * the real cause (EROFS) on a read-only file system. Here every error is the failing call's own.
 */
export async function makeDir(dir: string, fsync: boolean): Promise<void> {
  const target = path.resolve(dir);
  const missing: string[] = [];
  for (let candidate = target; ; candidate = path.dirname(candidate)) {
    let isDirectory: boolean;
    try {
      isDirectory = (await fs.promises.stat(candidate)).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || candidate === path.dirname(candidate))
        throw err;
      missing.push(candidate);
      continue;
    }
    if (!isDirectory) {
      throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${target}'`), {
        code: 'ENOTDIR',
        syscall: 'mkdir',
        path: candidate,
      });
    }
    break;
  }
  const created: string[] = [];
  for (const level of missing.reverse()) {
    try {
      await fs.promises.mkdir(level);
      created.push(level);
    } catch (err) {
      // Another process made it in the meantime: fine, as long as it is a directory (checked by the next mkdir).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (fsync) for (const level of created) await syncDir(path.dirname(level));
}
