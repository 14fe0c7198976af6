import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FileHandleCache } from '../../src/store/file-handle-cache.js';
import { tempDir } from './helpers.js';

function isOpen(fd: number): boolean {
  try {
    fs.fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

test('rejects a cap below the minimum', () => {
  assert.throws(() => new FileHandleCache({ maxOpenFiles: 1 }), RangeError);
  assert.throws(() => new FileHandleCache({ maxOpenFiles: 4.5 }), RangeError);
});

test('creates lazily (with its directory), reopens without truncating, evicts least recently used', async () => {
  const dir = path.join(tempDir('fhc-'), 'nested', 'queue');
  const cache = new FileHandleCache({ maxOpenFiles: 4 });
  const handles = Array.from({ length: 6 }, (_, i) =>
    cache.handle(path.join(dir, `f${i}`), { exists: false, syncDirOnCreate: true }),
  );
  assert.equal(fs.existsSync(dir), false, 'nothing on disk before the first acquire');
  for (const [i, h] of handles.entries()) {
    const fd = await h.acquire();
    fs.writeSync(fd, Buffer.from(`file ${i}`), 0, undefined, 0);
    h.release();
    assert.ok(cache.openFiles <= 4);
  }
  assert.equal(cache.peakOpenFiles, 4);
  // f0 and f1 were the least recently used: closed. Reopening keeps their content.
  assert.equal(handles[0].fd, -1);
  assert.equal(handles[1].fd, -1);
  const fd0 = await handles[0].acquire();
  const buf = Buffer.alloc(6);
  fs.readSync(fd0, buf, 0, 6, 0);
  assert.equal(buf.toString(), 'file 0');
  handles[0].release();
  assert.equal(handles[2].fd, -1, 'the next least recently used made room');
  for (const h of handles) await h.close();
  assert.equal(cache.openFiles, 0);
});

test('when every slot is pinned, an open waits for a release instead of exceeding the cap', async () => {
  const dir = tempDir('fhc-');
  const cache = new FileHandleCache({ maxOpenFiles: 4 });
  const handles = Array.from({ length: 5 }, (_, i) =>
    cache.handle(path.join(dir, `f${i}`), { exists: false, syncDirOnCreate: false }),
  );
  const fds = [];
  for (let i = 0; i < 4; i++) fds.push(await handles[i].acquire());
  let fifth = -1;
  const waiting = handles[4].acquire().then((fd) => {
    fifth = fd;
  });
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.equal(fifth, -1, 'still waiting');
  assert.equal(cache.openFiles, 4);
  // A close requested while pinned is deferred: the fd stays usable until the release.
  await handles[1].close();
  assert.ok(isOpen(fds[1]));
  assert.equal(handles[1].fd, fds[1]);
  handles[1].release();
  await waiting;
  assert.ok(fifth >= 0);
  assert.equal(cache.peakOpenFiles, 4);
  assert.ok(isOpen(fds[0]) && isOpen(fds[2]) && isOpen(fds[3]), 'pinned files were never closed');
  for (const i of [0, 2, 3, 4]) handles[i].release();
  for (const h of handles) await h.close();
  assert.equal(cache.openFiles, 0);
});

test('a failed open frees its slot and its pin', async () => {
  const dir = tempDir('fhc-');
  const cache = new FileHandleCache({ maxOpenFiles: 4 });
  const missing = cache.handle(path.join(dir, 'missing'), { exists: true, syncDirOnCreate: false });
  await assert.rejects(missing.acquire(), { code: 'ENOENT' });
  assert.equal(missing.pins, 0);
  assert.equal(cache.openFiles, 0);
  assert.throws(() => missing.release());
});
