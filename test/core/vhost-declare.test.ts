import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { VHost } from '../../src/core/vhost.js';
import { writeAll } from '../../src/store/fs-io.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { MetadataStore } from '../../src/store/metadata-store.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { StreamStore } from '../../src/store/stream-store.js';
import { tempDir } from '../store/helpers.js';

const commit = new GroupCommit({ fsync: false });
const owner = {};

/** A vhost on real stores whose metadata writes fail (like ENOSPC) while failWrites > 0, one per batch. */
async function openVHost() {
  const dir = tempDir('vhost-declare-');
  const state = { failWrites: 0 };
  const meta = await MetadataStore.open(path.join(dir, 'meta'), {
    fsync: false,
    journalIo: {
      write: async (fd, data, position) => {
        if (state.failWrites === 0) return writeAll(fd, data, position);
        state.failWrites--;
        await writeAll(fd, data.subarray(0, data.length >> 1), position);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    },
  });
  const queuesDir = path.join(dir, 'queues');
  const vhost = new VHost('/', {
    meta,
    queueOptions: { cacheBytes: 1 << 20, readAheadBytes: 1 << 16 },
    openQueueStore: (id, durable) =>
      QueueStore.open({ dir: path.join(queuesDir, id), commit, fsync: false, durable }),
    openStreamStore: (id, segmentMaxBytes) =>
      StreamStore.open({ dir: path.join(dir, 'streams', id), commit, fsync: false, segmentMaxBytes }),
    onQueueStoreError: () => {},
  });
  const queueDirs = () => (fs.existsSync(queuesDir) ? fs.readdirSync(queuesDir) : []);
  return { vhost, meta, state, queueDirs };
}

test('a durable queue declare whose definition cannot be written leaves nothing behind', async () => {
  const { vhost, meta, state, queueDirs } = await openVHost();
  state.failWrites = 1;
  await assert.rejects(vhost.declareQueue('q', { durable: true, owner }), /ENOSPC/);
  assert.equal(vhost.findQueue('q'), undefined);
  assert.equal(vhost.queueCount, 0);
  assert.deepEqual(meta.entries('queue'), []);
  assert.deepEqual(queueDirs(), [], 'the queue store is destroyed');

  // The name is free again, for a declare with other properties.
  const { queue } = await vhost.declareQueue('q', { durable: false, owner });
  assert.equal(queue.durable, false);
  await vhost.close();
  await meta.close();
});

test('a declare of a name whose first declare is pending waits for it and then sees its outcome', async () => {
  const { vhost, meta, state } = await openVHost();
  state.failWrites = 1;
  const failing = vhost.declareQueue('q', { durable: true, owner });
  const second = vhost.declareQueue('q', { durable: true, owner });
  const third = vhost.declareQueue('q', { durable: true, owner });
  await assert.rejects(failing, /ENOSPC/);
  const [b, c] = await Promise.all([second, third]);
  assert.equal(b.queue, c.queue, 'the waiting declares share one queue');
  assert.equal(vhost.findQueue('q'), b.queue);
  assert.equal(meta.entries('queue').length, 1);

  const [x, y] = await Promise.all([
    vhost.declareQueue('r', { durable: true, owner }),
    vhost.declareQueue('r', { durable: true, owner }),
  ]);
  assert.equal(x.queue, y.queue);
  await vhost.close();
  await meta.close();
});

test('failed durable exchange and binding declares are not registered', async () => {
  const { vhost, meta, state } = await openVHost();
  state.failWrites = 1;
  await assert.rejects(vhost.declareExchange('ex', 'direct', { durable: true }), /ENOSPC/);
  assert.equal(vhost.findExchange('ex'), undefined);
  const ex = await vhost.declareExchange('ex', 'direct', { durable: true });
  const { queue } = await vhost.declareQueue('q', { durable: true, owner });

  state.failWrites = 1;
  await assert.rejects(vhost.bindQueue('q', 'ex', 'rk', {}, owner), /ENOSPC/);
  assert.equal(ex.hasBindings, false);
  assert.deepEqual(meta.entries('binding'), []);
  await vhost.bindQueue('q', 'ex', 'rk', {}, owner);
  assert.equal(ex.allBindings()[0]?.destination, queue);
  assert.equal(meta.entries('binding').length, 1);
  await vhost.close();
  await meta.close();
});
