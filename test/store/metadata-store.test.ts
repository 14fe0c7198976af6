import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
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
