/** Many stores: new ones touch no file until they write, and a shared FileHandleCache bounds open files. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { FileHandleCache } from '../../src/store/file-handle-cache.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { durable, record, recoverOffsets, tempDir } from './helpers.js';

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

const haveProcFd = fs.existsSync('/proc/self/fd');

test('10,000 new stores (transient and durable) hold no file and create nothing until they write', {
  skip: !haveProcFd,
}, async () => {
  const root = tempDir('store-lazy-');
  const files = new FileHandleCache();
  const commit = new GroupCommit({ fsync: false });
  const before = openFds();
  const stores: QueueStore[] = [];
  for (let i = 0; i < 10_000; i++) {
    const isDurable = i % 2 === 0;
    stores.push(
      await QueueStore.open({
        dir: path.join(root, isDurable ? 'queues' : 'transient', `q${i}`),
        commit,
        fsync: true,
        durable: isDurable,
        files,
      }),
    );
  }
  assert.ok(openFds() - before < 50, `open fds grew by ${openFds() - before}`);
  assert.deepEqual(fs.readdirSync(root), [], 'no directory was created');
  assert.equal(files.openFiles, 0);

  // The first write creates the directory and the file (one descriptor per store that wrote).
  for (const i of [0, 1]) {
    const s = stores[i];
    const o = s.append(record(i, true));
    await durable(s, o);
    assert.equal((await s.read(o))!.routingKey, `rk.${i}`);
    s.settle(o);
    await s.flush();
  }
  assert.deepEqual(fs.readdirSync(path.join(root, 'queues', 'q0')).sort(), [
    '00000000000000000000.seg',
    'settled.log',
  ]);
  assert.deepEqual(fs.readdirSync(path.join(root, 'transient', 'q1')), ['00000000000000000000.seg']);
  assert.equal(files.openFiles, 3);

  for (const s of stores) await s.destroy();
  assert.equal(files.openFiles, 0);
  assert.deepEqual(fs.readdirSync(path.join(root, 'queues')), []);
  assert.deepEqual(fs.readdirSync(path.join(root, 'transient')), []);
  assert.ok(openFds() - before < 10);
});

test('500 durable stores through a 64-file cache: append, sync, read, reopen stay correct under the cap', async () => {
  const root = tempDir('store-bounded-');
  const STORES = 500;
  const PER_STORE = 40;
  const CAP = 64;
  let badSyncs = 0;
  let syncs = 0;
  // Checks that no fd is closed (or recycled for another file) while its sync is pending: the inode seen
  // when the sync starts must still be behind the fd when it completes, a few loop turns later.
  const commit = new GroupCommit({
    fsync: true,
    syncFn: (fd, cb) => {
      syncs++;
      let ino: number;
      try {
        ino = fs.fstatSync(fd).ino;
      } catch (err) {
        badSyncs++;
        return cb(err as Error);
      }
      setImmediate(() =>
        setImmediate(() => {
          let same = false;
          try {
            same = fs.fstatSync(fd).ino === ino;
          } catch {}
          if (!same) badSyncs++;
          fs.fdatasync(fd, cb);
        }),
      );
    },
  });
  const open = (files: FileHandleCache, i: number) =>
    QueueStore.open({
      dir: path.join(root, `q${i}`),
      commit,
      fsync: true,
      durable: true,
      segmentMaxBytes: 4096, // several segments per store: more files than stores
      files,
    });

  const files = new FileHandleCache({ maxOpenFiles: CAP });
  const stores = await Promise.all(Array.from({ length: STORES }, (_, i) => open(files, i)));
  // Every store appends in the same ticks, so writes and syncs compete for the 64 slots.
  const confirms: Promise<void>[] = [];
  for (let round = 0; round < PER_STORE; round++) {
    for (let i = 0; i < STORES; i++) {
      const o = stores[i].append(record(round, true, 150 + (i % 7)));
      if (round === PER_STORE - 1) confirms.push(durable(stores[i], o));
    }
    if (round % 8 === 7) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(confirms);
  assert.ok(files.peakOpenFiles <= CAP, `peak ${files.peakOpenFiles}`);
  assert.equal(badSyncs, 0);
  assert.ok(syncs > 0);
  // Read back everything (reopens closed segment files), and settle the first half of each store.
  await Promise.all(
    stores.map(async (s, i) => {
      const recs = await s.readRange(0, 1 << 30, PER_STORE + 1);
      assert.equal(recs.length, PER_STORE);
      for (const [k, r] of recs.entries()) {
        assert.equal(r.offset, k);
        assert.equal(r.body.length, 150 + (i % 7));
      }
      for (let k = 0; k < PER_STORE / 2; k++) s.settle(k);
      await s.flush();
    }),
  );
  assert.ok(files.peakOpenFiles <= CAP, `peak ${files.peakOpenFiles}`);
  await Promise.all(stores.map((s) => s.close()));
  assert.equal(files.openFiles, 0);

  // Recovery through a fresh 64-file cache sees exactly the unsettled half.
  const files2 = new FileHandleCache({ maxOpenFiles: CAP });
  const reopened = await Promise.all(Array.from({ length: STORES }, (_, i) => open(files2, i)));
  await Promise.all(
    reopened.map(async (s) => {
      const live = await recoverOffsets(s);
      assert.deepEqual(
        live,
        Array.from({ length: PER_STORE / 2 }, (_, k) => PER_STORE / 2 + k),
      );
      assert.equal(s.nextOffset, PER_STORE);
      assert.equal((await s.read(PER_STORE - 1))!.routingKey, `rk.${PER_STORE - 1}`);
      const o = s.append(record(PER_STORE, true));
      await durable(s, o);
    }),
  );
  assert.ok(files2.peakOpenFiles <= CAP, `peak ${files2.peakOpenFiles}`);
  assert.equal(badSyncs, 0);
  await Promise.all(reopened.map((s) => s.destroy()));
  assert.equal(files2.openFiles, 0);
  assert.deepEqual(fs.readdirSync(root), []);
});
