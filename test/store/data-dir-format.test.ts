/** The data directory's FORMAT file, the refusal of 0.1.0 and newer data, and the 0.1.0 upgrade. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import {
  checkDataDirFormat,
  DATA_FORMAT_FILE,
  DataDirFormatError,
  UPGRADE_DATA_COMMAND,
  V1_DATA_DIR_REFUSAL,
} from '../../src/store/data-dir-format.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { SEGMENT_HEADER_BYTES, SegmentFormatError } from '../../src/store/segment-header.js';
import { upgradeDataDir } from '../../src/store/upgrade-v1.js';
import { durable, record, recoverOffsets, tempDir } from './helpers.js';

const commit = new GroupCommit({ fsync: false });
const QUEUES = ['q-a', 'q-b', 'delayed-x'];
const N = 300;

const openStore = (dir: string) =>
  QueueStore.open({ dir, commit, fsync: false, durable: true, segmentMaxBytes: 4096 });

/** Unsettled persistent offsets of queue i as the test writes it. */
const expectedLive = (i: number) => Array.from({ length: N }, (_, o) => o).filter((o) => (o + i) % 4 !== 0);

async function recoverAll(store: QueueStore): Promise<number[]> {
  const live = await recoverOffsets(store);
  for (const o of live) assert.equal((await store.read(o))!.routingKey, `rk.${o}`, `offset ${o} intact`);
  return live;
}

/**
 * A data directory as EventterMQ 0.1.0 left it: the same stores, with segment files that start with their
 * first record (no header), no index files and no FORMAT file.
 */
async function makeV1DataDir(): Promise<string> {
  const dataDir = tempDir('data-v1-');
  for (const [i, q] of QUEUES.entries()) {
    const store = await openStore(path.join(dataDir, 'queues', q));
    for (let o = 0; o < N; o++) store.append(record(o, true, 50 + (o % 5) * 30));
    for (let o = 0; o < N; o++) if ((o + i) % 4 === 0) store.settle(o);
    await durable(store, N - 1);
    await store.flush();
    await store.close();
  }
  fs.mkdirSync(path.join(dataDir, 'meta'));
  fs.writeFileSync(path.join(dataDir, 'meta', 'journal'), 'unchanged by the upgrade\n');
  for (const q of QUEUES) {
    const dir = path.join(dataDir, 'queues', q);
    for (const name of fs.readdirSync(dir)) {
      const file = path.join(dir, name);
      if (name.endsWith('.idx')) fs.unlinkSync(file);
      if (name.endsWith('.seg')) fs.writeFileSync(file, fs.readFileSync(file).subarray(SEGMENT_HEADER_BYTES));
    }
  }
  return dataDir;
}

test('a new data directory gets FORMAT; a current one opens; a newer or unreadable one is refused', async () => {
  const dataDir = tempDir('data-new-');
  assert.equal(await checkDataDirFormat(dataDir, { fsync: true }), 'initialised');
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dataDir, DATA_FORMAT_FILE), 'utf8')), { format: 2 });
  assert.equal(await checkDataDirFormat(dataDir, { fsync: true }), 'current');
  assert.deepEqual(fs.readdirSync(dataDir), [DATA_FORMAT_FILE], 'no temporary file left');

  fs.writeFileSync(path.join(dataDir, DATA_FORMAT_FILE), '{"format":3}\n');
  await assert.rejects(checkDataDirFormat(dataDir, { fsync: false }), (err: DataDirFormatError) => {
    assert.equal(err.problem, 'newer');
    assert.ok(err.message.includes(dataDir));
    assert.match(err.message, /data format 3, newer than this EventterMQ reads \(data format 2\)/);
    return true;
  });
  await assert.rejects(upgradeDataDir(dataDir, { fsync: false }), /data format 3/);

  fs.writeFileSync(path.join(dataDir, DATA_FORMAT_FILE), 'garbage');
  await assert.rejects(checkDataDirFormat(dataDir, { fsync: false }), (err: DataDirFormatError) => {
    assert.equal(err.problem, 'unreadable');
    assert.ok(err.message.includes(path.join(dataDir, DATA_FORMAT_FILE)));
    return true;
  });
  fs.rmSync(dataDir, { recursive: true });
});

test('a 0.1.0 data directory is refused with the upgrade command, upgraded, then opened with every record', async () => {
  const dataDir = await makeV1DataDir();
  const message = V1_DATA_DIR_REFUSAL.replaceAll('{dir}', dataDir);
  assert.ok(message.includes(`${UPGRADE_DATA_COMMAND} ${dataDir}`));
  await assert.rejects(checkDataDirFormat(dataDir, { fsync: false }), (err: DataDirFormatError) => {
    assert.equal(err.problem, 'upgrade-required');
    assert.equal(err.message, message);
    return true;
  });
  assert.equal(fs.existsSync(path.join(dataDir, DATA_FORMAT_FILE)), false, 'the refusal writes nothing');
  // Opening a store directly is refused too, naming the file.
  await assert.rejects(openStore(path.join(dataDir, 'queues', QUEUES[0])), (err: SegmentFormatError) => {
    assert.ok(err instanceof SegmentFormatError);
    assert.equal(err.version, 1);
    assert.ok(err.file.startsWith(path.join(dataDir, 'queues', QUEUES[0])));
    return true;
  });

  const result = await upgradeDataDir(dataDir, { fsync: true });
  assert.equal(result.from, 1);
  assert.ok(result.converted > QUEUES.length * 5, `converted ${result.converted} files`);
  assert.equal(result.alreadyCurrent, 0);
  assert.equal(await checkDataDirFormat(dataDir, { fsync: false }), 'current');
  assert.equal(fs.readFileSync(path.join(dataDir, 'meta', 'journal'), 'utf8'), 'unchanged by the upgrade\n');
  for (const [i, q] of QUEUES.entries()) {
    const store = await openStore(path.join(dataDir, 'queues', q));
    assert.deepEqual(await recoverAll(store), expectedLive(i));
    assert.equal(store.nextOffset, N);
    assert.equal(store.damage.length, 0);
    await store.close();
  }
  // Running it again changes nothing.
  const again = await upgradeDataDir(dataDir, { fsync: false });
  assert.deepEqual(again, { from: 2, converted: 0, alreadyCurrent: result.converted });
  fs.rmSync(dataDir, { recursive: true });
});

test('an upgrade interrupted midway leaves every file old or new, is refused, and completes when re-run', async () => {
  const dataDir = await makeV1DataDir();
  let converted = 0;
  await assert.rejects(
    upgradeDataDir(dataDir, {
      fsync: false,
      onFile: () => {
        if (++converted === 4) throw new Error('crash');
      },
    }),
    /crash/,
  );
  // A crash while writing the fifth file leaves its temporary copy behind.
  const q = path.join(dataDir, 'queues', QUEUES[1]);
  const victim = fs.readdirSync(q).find((n) => n.endsWith('.seg'))!;
  fs.writeFileSync(path.join(q, `${victim}.upgrade-tmp`), 'half a copy');
  await assert.rejects(checkDataDirFormat(dataDir, { fsync: false }), DataDirFormatError);

  const result = await upgradeDataDir(dataDir, { fsync: false });
  assert.equal(result.alreadyCurrent, 4);
  assert.equal(await checkDataDirFormat(dataDir, { fsync: false }), 'current');
  assert.equal(
    fs.readdirSync(q).some((n) => n.endsWith('.upgrade-tmp')),
    false,
  );
  for (const [i, name] of QUEUES.entries()) {
    const store = await openStore(path.join(dataDir, 'queues', name));
    assert.deepEqual(await recoverAll(store), expectedLive(i));
    await store.close();
  }
  fs.rmSync(dataDir, { recursive: true });
});

test('a data directory without FORMAT whose segments all have headers (FORMAT lost) gets FORMAT back', async () => {
  const dataDir = tempDir('data-lost-format-');
  const store = await openStore(path.join(dataDir, 'queues', 'q'));
  store.append(record(0));
  await durable(store, 0);
  await store.close();
  // An empty segment file (0.1.0's skipTo made those) holds nothing to convert either.
  fs.writeFileSync(path.join(dataDir, 'queues', 'q', `${'9'.padStart(20, '0')}.seg`), '');
  assert.equal(await checkDataDirFormat(dataDir, { fsync: false }), 'initialised');
  fs.rmSync(dataDir, { recursive: true });
});
