/**
 * Child process for the kill -9 test: appends persistent records forever and reports, once per tick,
 * the highest offset whose whenDurable callback has fired.
 */
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { record } from './helpers.js';

const dir = process.argv[2];
const commit = new GroupCommit({ fsync: true });
const store = await QueueStore.open({ dir, commit, fsync: true, durable: true, segmentMaxBytes: 256 * 1024 });
let confirmed = -1;
let reported = -1;
let next = 0;
const pump = () => {
  for (let i = 0; i < 500; i++) {
    const offset = store.append(record(next++, true, 200));
    store.whenDurable(offset, (err) => {
      if (err) throw err;
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
