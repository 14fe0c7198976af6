import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { truncateFile, writeAll } from '../../src/store/fs-io.js';
import { MetadataStore, MetadataStoreError } from '../../src/store/metadata-store.js';
import { tempDir } from './helpers.js';

test('put / get / entries / delete survive reopen', async () => {
  const dir = tempDir();
  let store = await MetadataStore.open(dir, { fsync: false });
  await Promise.all([
    store.put('queue\u0000/\u0000b', { durable: true }),
    store.put('queue\u0000/\u0000a', { durable: false, args: [1, 'x'] }),
    store.put('exchange\u0000/\u0000amq.direct', { type: 'direct' }),
    store.put('tmp', 1),
  ]);
  await store.delete('tmp');
  await store.put('queue\u0000/\u0000a', { durable: true });
  const value = store.get('queue\u0000/\u0000a') as { durable: boolean };
  value.durable = false; // callers get copies
  assert.deepEqual(store.get('queue\u0000/\u0000a'), { durable: true });
  await store.close();
  store = await MetadataStore.open(dir, { fsync: false });
  assert.deepEqual(store.entries('queue\u0000'), [
    ['queue\u0000/\u0000a', { durable: true }],
    ['queue\u0000/\u0000b', { durable: true }],
  ]);
  assert.equal(store.get('tmp'), undefined);
  assert.deepEqual(store.get('exchange\u0000/\u0000amq.direct'), { type: 'direct' });
  await store.close();
});

test('a torn or damaged last journal line is ignored; earlier lines stay', async () => {
  const dir = tempDir();
  let store = await MetadataStore.open(dir, { fsync: false });
  await store.put('a', 1);
  await store.put('b', 2);
  await store.close();
  const journal = path.join(dir, 'journal.jsonl');
  fs.appendFileSync(journal, '0badc0de ["p","c",3]'); // no newline: torn
  const warnings: string[] = [];
  store = await MetadataStore.open(dir, { fsync: false, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(store.entries(''), [
    ['a', 1],
    ['b', 2],
  ]);
  assert.equal(warnings.length, 1);
  await store.put('d', 4); // appends after the truncated tail
  await store.close();
  const text = fs.readFileSync(journal, 'utf8');
  fs.writeFileSync(journal, text.replace('["p","b",2]', '["p","b",9]')); // CRC no longer matches, mid-file
  store = await MetadataStore.open(dir, { fsync: false });
  assert.deepEqual(store.entries(''), [
    ['a', 1],
    ['d', 4],
  ]);
  await store.close();
});

test('compaction writes a snapshot and empties the journal', async () => {
  const dir = tempDir();
  let store = await MetadataStore.open(dir, { fsync: true, compactJournalBytes: 2000 });
  for (let i = 0; i < 100; i++) await store.put(`k${String(i).padStart(3, '0')}`, { i });
  for (let i = 0; i < 50; i++) await store.delete(`k${String(i).padStart(3, '0')}`);
  assert.ok(fs.statSync(path.join(dir, 'journal.jsonl')).size < 2000);
  assert.ok(fs.existsSync(path.join(dir, 'snapshot.jsonl')));
  await store.compact();
  assert.equal(fs.statSync(path.join(dir, 'journal.jsonl')).size, 0);
  await store.close();
  store = await MetadataStore.open(dir);
  const entries = store.entries('k');
  assert.equal(entries.length, 50);
  assert.deepEqual(entries[0], ['k050', { i: 50 }]);
  await store.close();
});

test('many puts in one tick share one write; invalid input is a typed error', async () => {
  const dir = tempDir();
  const store = await MetadataStore.open(dir, { fsync: false });
  await Promise.all(Array.from({ length: 500 }, (_, i) => store.put(`x${i}`, i)));
  assert.equal(store.entries('x').length, 500);
  assert.throws(() => store.put('', 1), MetadataStoreError);
  assert.throws(() => store.put('k'.repeat(5000), 1), MetadataStoreError);
  await assert.rejects(store.put('u', undefined), MetadataStoreError);
  const cyclic: { self?: unknown } = {};
  cyclic.self = cyclic;
  await assert.rejects(store.put('c', cyclic), MetadataStoreError);
  await store.close();
  assert.throws(() => store.put('late', 1), MetadataStoreError);
});

/** Journal I/O that, while `failWrites` is set, writes half of what it is given and then fails like a full disk. */
function fullDiskIo() {
  const io = {
    failWrites: false,
    failTruncates: 0,
    writeErrors: [] as Error[],
    hooks: {
      write: async (fd: number, data: Buffer, position: number) => {
        if (!io.failWrites) return writeAll(fd, data, position);
        await writeAll(fd, data.subarray(0, data.length >> 1), position);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
      truncate: async (fd: number, length: number) => {
        if (io.failTruncates > 0) {
          io.failTruncates--;
          throw Object.assign(new Error('EIO: i/o error, ftruncate'), { code: 'EIO' });
        }
        await truncateFile(fd, length);
      },
    },
  };
  return io;
}

/** Every journal line, checked: throws on a line that is torn or fails its checksum. */
function journalKeys(dir: string): string[] {
  const text = fs.readFileSync(path.join(dir, 'journal.jsonl'), 'utf8');
  assert.ok(text === '' || text.endsWith('\n'), 'the journal ends with a complete line');
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      assert.match(line, /^[0-9a-f]{8} \[/);
      return (JSON.parse(line.slice(9)) as [string, string])[1];
    });
}

test('a failed journal write is rolled back before the next write; later records survive a reopen', async () => {
  const dir = tempDir();
  const io = fullDiskIo();
  const warnings: string[] = [];
  let store = await MetadataStore.open(dir, {
    journalIo: io.hooks,
    onWriteError: (err) => io.writeErrors.push(err),
  });
  await store.put('qa', { n: 1 });
  const goodSize = fs.statSync(path.join(dir, 'journal.jsonl')).size;

  io.failWrites = true;
  await assert.rejects(store.put('big', 'x'.repeat(100_000)), /ENOSPC/);
  assert.equal(store.get('big'), undefined, 'a failed put is not visible');
  assert.equal(fs.statSync(path.join(dir, 'journal.jsonl')).size, goodSize, 'the partial line is cut off');
  assert.equal(io.writeErrors.length, 1);

  io.failWrites = false;
  await Promise.all([store.put('qx', { n: 2 }), store.put('qy', { n: 3 })]);
  assert.deepEqual(journalKeys(dir), ['qa', 'qx', 'qy']);
  await store.close();

  store = await MetadataStore.open(dir, { onWarning: (m) => warnings.push(m) });
  assert.deepEqual(
    store.entries('q').map(([k]) => k),
    ['qa', 'qx', 'qy'],
  );
  assert.deepEqual(warnings, []);
  await store.close();
});

test('when the rollback itself fails, writes are refused until a retried rollback succeeds', async () => {
  const dir = tempDir();
  const io = fullDiskIo();
  let store = await MetadataStore.open(dir, { fsync: false, journalIo: io.hooks });
  await store.put('a', 1);

  io.failWrites = true;
  io.failTruncates = 2; // the rollback right after the failure, and the retry before the next write
  await assert.rejects(store.put('big', 'x'.repeat(10_000)), /ENOSPC/);
  io.failWrites = false;
  await assert.rejects(store.put('b', 2), /not yet rolled back/);
  assert.equal(store.get('b'), undefined);
  assert.ok(fs.statSync(path.join(dir, 'journal.jsonl')).size > 20, 'the torn bytes are still there');

  await store.put('c', 3); // the rollback now works, then the write goes where the torn bytes were
  assert.deepEqual(journalKeys(dir), ['a', 'c']);
  await store.close();
  store = await MetadataStore.open(dir, { fsync: false });
  assert.deepEqual(store.entries(''), [
    ['a', 1],
    ['c', 3],
  ]);
  await store.close();
});

test('changes are visible only once durable', async () => {
  const dir = tempDir();
  const store = await MetadataStore.open(dir, { fsync: false });
  const put = store.put('k', { v: 1 });
  assert.equal(store.get('k'), undefined);
  assert.equal(store.has('k'), false);
  assert.deepEqual(store.entries('k'), []);
  await put;
  assert.deepEqual(store.get('k'), { v: 1 });

  const deletion = store.delete('k');
  assert.deepEqual(store.get('k'), { v: 1 });
  await deletion;
  assert.equal(store.get('k'), undefined);
  await store.close();
});

test('a flipped byte loses only its own record, in the middle or on the last complete line', async () => {
  const dir = tempDir();
  let store = await MetadataStore.open(dir, { fsync: false });
  for (const key of ['a', 'b', 'c', 'd']) await store.put(key, { key, padding: 'p'.repeat(50) });
  await store.close();
  const journal = path.join(dir, 'journal.jsonl');
  const flip = (key: string) => {
    const bytes = fs.readFileSync(journal);
    const at = bytes.indexOf(`"key":"${key}"`) + 3;
    bytes[at] ^= 0x01;
    fs.writeFileSync(journal, bytes);
  };
  flip('b');
  flip('d');
  const size = fs.statSync(journal).size;

  const warnings: string[] = [];
  store = await MetadataStore.open(dir, { fsync: false, onWarning: (m) => warnings.push(m) });
  assert.deepEqual(
    store.entries('').map(([k]) => k),
    ['a', 'c'],
  );
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /skipped 2 corrupt lines/);
  assert.equal(fs.statSync(journal).size, size, 'complete lines are not cut off as a torn tail');
  await store.put('e', 5);
  await store.close();

  store = await MetadataStore.open(dir, { fsync: false });
  assert.deepEqual(
    store.entries('').map(([k]) => k),
    ['a', 'c', 'e'],
  );
  await store.close();
});

test('a new metadata directory and journal are created, nested directories included', async () => {
  const dir = path.join(tempDir(), 'data', 'meta');
  const store = await MetadataStore.open(dir, { fsync: true });
  await store.put('a', 1);
  await store.close();
  assert.ok(fs.existsSync(path.join(dir, 'journal.jsonl')));
});
