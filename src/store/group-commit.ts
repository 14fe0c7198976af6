/**
 * Group commit: one instance per broker makes every written file durable with as few fdatasync calls as
 * possible. At most one sync round is in flight; a round syncs every fd that was dirty when it started, then
 * runs the callbacks that waited on it. Requests arriving during a round wait for the next.
 *
 * The fdatasync calls of one round run in parallel on libuv's thread pool (an strace shows them overlap).
 * That is deliberate and safe: each file's callbacks run only after the round's syncs have all returned, so
 * no confirm goes out before the sync of its own file, and the order in which files reach the disk within a
 * round does not matter (every durable record is self-validating: CRC-framed records, settle entries and
 * journal lines). Parallel calls let the file system fold them into fewer journal commits; serialising them
 * would make a round as slow as the sum of its syncs instead of about the slowest one.
 */
import fs from 'node:fs';

export type SyncCallback = (err: Error | null) => void;
/** The sync primitive; injectable so tests can observe and delay it. */
export type SyncFn = (fd: number, cb: (err: Error | null) => void) => void;

export interface GroupCommitOptions {
  /** false turns every sync into a no-op (tests, --no-fsync dev mode). Default true. */
  fsync?: boolean;
  syncFn?: SyncFn;
}

export class GroupCommitClosedError extends Error {
  override name = 'GroupCommitClosedError';
}

const NO_FD = -1;

export class GroupCommit {
  readonly fsync: boolean;
  private readonly syncFn: SyncFn;
  /** Requests for the next round, as parallel arrays (fd NO_FD = flush marker, nothing to sync). */
  private waitFds: number[] = [];
  private waitCbs: SyncCallback[] = [];
  private inFlight = false;
  private scheduled = false;
  private closed = false;
  /** Completed rounds, for tests and metrics. */
  rounds = 0;

  constructor(opts: GroupCommitOptions = {}) {
    this.fsync = opts.fsync ?? true;
    this.syncFn = opts.syncFn ?? ((fd, cb) => fs.fdatasync(fd, cb));
  }

  /** cb runs once everything written to fd before this call is on stable storage. */
  requestSync(fd: number, cb: SyncCallback): void {
    if (this.closed) {
      process.nextTick(cb, new GroupCommitClosedError('group commit is closed'));
      return;
    }
    if (!this.fsync) {
      process.nextTick(cb, null);
      return;
    }
    this.enqueue(fd, cb);
  }

  /** Resolves once every sync requested before this call has completed (successfully or not). */
  flush(): Promise<void> {
    if (!this.inFlight && this.waitCbs.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.enqueue(NO_FD, () => resolve()));
  }

  /** Waits for outstanding syncs, then refuses new requests. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
  }

  private enqueue(fd: number, cb: SyncCallback): void {
    this.waitFds.push(fd);
    this.waitCbs.push(cb);
    this.schedule();
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = true;
    // setImmediate (not nextTick) so that all write completions of this poll phase join the same round.
    setImmediate(() => {
      this.scheduled = false;
      this.startRound();
    });
  }

  private startRound(): void {
    if (this.inFlight || this.waitCbs.length === 0) return;
    const fds = this.waitFds;
    const cbs = this.waitCbs;
    this.waitFds = [];
    this.waitCbs = [];
    this.inFlight = true;
    const unique = new Set<number>();
    for (const fd of fds) if (fd !== NO_FD) unique.add(fd);
    const errors = new Map<number, Error>();
    let remaining = unique.size;
    const finish = () => {
      this.inFlight = false;
      this.rounds++;
      let thrown: unknown;
      for (let i = 0; i < cbs.length; i++) {
        try {
          cbs[i](errors.get(fds[i]) ?? null);
        } catch (e) {
          thrown ??= e;
        }
      }
      if (this.waitCbs.length > 0) this.schedule();
      if (thrown !== undefined) throw thrown;
    };
    if (remaining === 0) {
      finish();
      return;
    }
    for (const fd of unique) {
      this.syncFn(fd, (err) => {
        if (err) errors.set(fd, err);
        if (--remaining === 0) finish();
      });
    }
  }
}
