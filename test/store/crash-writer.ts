/**
 * Child process for the kill -9 test: appends persistent records across segment roll-over and settles while it
 * appends, as acking consumers do: offsets ≡ 0 (mod 3) are settled at once (acked straight from memory, maybe
 * before their record is written), ≡ 1 once confirmed, ≡ 2 never. Reports the first offset it appends
 * (`start N`), then once per tick the highest offset whose whenDurable callback has fired.
 */
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { record } from './helpers.js';

const dir = process.argv[2];
const commit = new GroupCommit({ fsync: true });
const store = await QueueStore.open({ dir, commit, fsync: true, durable: true, segmentMaxBytes: 64 * 1024 });
await store.recover(() => {});
process.stdout.write(`start ${store.nextOffset}\n`);
let confirmed = -1;
let reported = -1;
const pump = () => {
  for (let i = 0; i < 500; i++) {
    const offset = store.append(record(store.nextOffset, true, 200));
    if (offset % 3 === 0) store.settle(offset);
    store.whenDurable(offset, (err) => {
      if (err) throw err;
      if (offset % 3 === 1) store.settle(offset);
      if (offset > confirmed) confirmed = offset;
    });
  }
  if (confirmed > reported) {
    reported = confirmed;
    process.stdout.write(`${confirmed}\n`);
  }
  setImmediate(pump);
};
pump();
