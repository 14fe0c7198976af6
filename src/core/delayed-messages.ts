/**
 * The held messages of one delayed-message exchange (`x-delayed-message`): each is appended to the
 * exchange's own QueueStore with its due time in the record's expiresAt field, and only (due time, offset)
 * stays in memory, in a DueTimeHeap. A single timer is armed for the earliest due time, whatever the backlog;
 * when it fires every due message is read back, handed to onDue, then settled. Bounded batches keep a burst
 * of due messages from blocking the event loop.
 *
 * Duplicate window: a fired message is settled only once onDue's routing is durable, so a crash in between
 * fires it again (at least once). To keep that set small, at most MAX_UNSETTLED messages are fired and not
 * yet durably settled at any time; the drain waits for their settles (the queue's group commit, then the
 * settle log's, one fsync each per round, never per message) before firing more. After kill -9 or a power
 * loss at most MAX_UNSETTLED messages per exchange fire again, in practice those fired in the last few ms.
 */
import { rawExpiration } from '../codec/basic-properties.js';
import type { QueueStore } from '../store/queue-store.js';
import type { LogRecord } from '../store/record-format.js';
import { DueTimeHeap } from './due-time-heap.js';
import type { Message } from './message.js';
import { messageFromRecord } from './message-log.js';

/** Largest delay setTimeout accepts; longer waits are armed in steps of at most this. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
/** Per event-loop turn: at most this many due messages... */
export const BATCH_MAX_MESSAGES = 1000;
/** ...or about this many bytes of them, then yield with setImmediate. */
export const BATCH_MAX_BYTES = 16 * 1024 * 1024;
/** Due messages read from the store in one round (one range read when their offsets are dense). */
const READ_ROUND = 1000;
/** Point reads in flight at once (each reads a window of the segment file). */
const POINT_READS_PARALLEL = 64;
/** After a failed read, wait this long before trying the store again rather than spin on the error. */
export const READ_RETRY_MS = 1000;
/**
 * Fired messages whose settle is not yet durable, at most: what a crash can fire a second time. Each round
 * costs two group-commit rounds, so this also caps the firing rate at about MAX_UNSETTLED / (2 x fsync time).
 */
export const MAX_UNSETTLED = 256;
/** Fired messages still not settled after this long stop holding back the rest (a stuck queue store). */
export const UNSETTLED_STALL_MS = 10_000;

export interface DelayTimers {
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * Called when a message is due. Return nothing to have it settled at once, or a promise to have it settled
 * only once the promise resolves (e.g. once the routed copies are durable, so a crash in between cannot lose
 * it); a rejected promise leaves it unsettled, so it is delivered again after a restart (at least once).
 * At most MAX_UNSETTLED such promises (and the settles that follow) are outstanding: more wait to fire.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a plain `(m) => { route(m); }` callback must fit.
export type DueCallback = (message: Message, dueAt: number) => void | Promise<unknown>;

export interface DelayedMessagesOptions {
  store: QueueStore;
  onDue: DueCallback;
  /** Clock in ms since the epoch (tests inject a fake one). */
  now?: () => number;
  /** Store read failures, and errors thrown by onDue; the scheduler keeps running. */
  onError?: (err: Error) => void;
  /** Timer primitives (tests inject fakes to count pending timers). Default: unref'ed Node timers. */
  timers?: DelayTimers;
}

export class DelayedMessagesError extends Error {
  override name = 'DelayedMessagesError';
}

const nodeTimers: DelayTimers = {
  setTimeout: (cb, ms) => setTimeout(cb, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class DelayedMessages {
  private readonly heap = new DueTimeHeap();
  private readonly now: () => number;
  private readonly onDue: DueCallback;
  private readonly onError: (err: Error) => void;
  private readonly timers: DelayTimers;
  private timer: unknown = null;
  /** Due time the pending timer was armed for (Infinity: none). */
  private armedFor = Number.POSITIVE_INFINITY;
  /** Entries popped from the heap and not yet handed to onDue. */
  private inFlight = 0;
  private drainPromise: Promise<void> | null = null;
  /** A failed read holds back firing until this time. */
  private retryAt = 0;
  private closed = false;
  /** Fired messages (onDue returned a promise) whose settle is not yet durable: see MAX_UNSETTLED. */
  private unsettled = 0;
  /** Of those, settled since the last store flush was requested. */
  private settledSinceFlush = 0;
  private flushQueued = false;
  /** Bumped when a stall stops counting the fired messages so far, so their late settles count no more. */
  private epoch = 0;
  /** The drain, waiting for unsettled to drop below MAX_UNSETTLED. */
  private roomWaiter: (() => void) | null = null;

  private constructor(
    private readonly store: QueueStore,
    opts: DelayedMessagesOptions,
  ) {
    this.onDue = opts.onDue;
    this.now = opts.now ?? Date.now;
    this.onError = opts.onError ?? (() => {});
    this.timers = opts.timers ?? nodeTimers;
  }

  /** Recovers every unsettled record of store (call right after opening it) and arms the timer. */
  static async open(opts: DelayedMessagesOptions): Promise<DelayedMessages> {
    const dm = new DelayedMessages(opts.store, opts);
    await opts.store.recover((batch) => {
      for (let i = 0; i < batch.count; i++) dm.heap.push(batch.expiresAt[i], batch.offsets[i]);
    });
    dm.arm();
    return dm;
  }

  /** Messages held and not yet handed to onDue. */
  get size(): number {
    return this.heap.size + this.inFlight;
  }

  /** Bytes of the in-memory index (the rest of the backlog is on disk). */
  get memoryBytes(): number {
    return this.heap.capacityBytes;
  }

  /**
   * Holds message until dueAt (ms since the epoch; already past = as soon as possible). onStored follows the
   * store: after the fsync for a persistent message in a durable store, at once (next tick) otherwise.
   * Throws DelayedMessagesError when closed or dueAt is not a number, RecordFormatError for an oversized record.
   */
  schedule(message: Message, dueAt: number, onStored?: (err: Error | null) => void): void {
    if (this.closed) throw new DelayedMessagesError('delayed messages store is closed');
    if (typeof dueAt !== 'number' || Number.isNaN(dueAt))
      throw new DelayedMessagesError(`invalid due time: ${dueAt}`);
    // The record field is a non-negative safe integer; round up so a message never fires early.
    const due = Math.min(Math.max(Math.ceil(dueAt), 0), Number.MAX_SAFE_INTEGER);
    const offset = this.store.append({
      timestamp: message.timestamp,
      persistent: message.persistent,
      priority: message.priority,
      exchange: message.exchange,
      routingKey: message.routingKey,
      properties: message.properties,
      body: message.body,
      expiresAt: due,
    });
    this.heap.push(due, offset);
    if (due < this.armedFor) this.arm();
    if (onStored) {
      if (message.persistent) this.store.whenDurable(offset, onStored);
      else process.nextTick(onStored, null);
    }
  }

  /** Resolves once no batch of due messages is being processed. */
  async whenIdle(): Promise<void> {
    while (this.drainPromise) await this.drainPromise;
  }

  /** Stops firing and closes the store; messages not yet settled are recovered by the next open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    this.roomWaiter?.();
    await this.whenIdle();
    this.heap.clear();
    await this.store.close();
  }

  /** Stops firing and deletes every held message with the store. */
  async destroy(): Promise<void> {
    this.closed = true;
    this.disarm();
    this.roomWaiter?.();
    await this.whenIdle();
    this.heap.clear();
    await this.store.destroy();
  }

  /** (Re)arms the one timer for the earliest due time; never more than one is pending. */
  private arm(): void {
    if (this.closed || this.drainPromise) return; // a running drain re-arms when it ends
    const due = Math.max(this.heap.peekDue(), this.retryAt);
    if (due === this.armedFor && this.timer !== null) return;
    this.disarm();
    if (this.heap.size === 0) return;
    const wait = Math.min(Math.max(due - this.now(), 0), MAX_TIMER_MS);
    this.armedFor = due;
    this.timer = this.timers.setTimeout(this.onTimer, wait);
  }

  private disarm(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    this.armedFor = Number.POSITIVE_INFINITY;
    if (this.closed || this.drainPromise) return;
    if (this.heap.peekDue() > this.now() || this.retryAt > this.now()) {
      this.arm(); // a step of a wait longer than MAX_TIMER_MS, or a clock that fired early
      return;
    }
    this.drainPromise = this.drain().finally(() => {
      this.drainPromise = null;
      this.arm();
    });
  };

  /** Fires every due message, one bounded batch per event-loop turn. */
  private async drain(): Promise<void> {
    const dues = new Float64Array(READ_ROUND);
    const offsets = new Float64Array(READ_ROUND);
    const records: (LogRecord | undefined)[] = [];
    for (;;) {
      let count = 0;
      let bytes = 0;
      const now = this.now();
      while (count < BATCH_MAX_MESSAGES && bytes < BATCH_MAX_BYTES) {
        let n = 0;
        while (n < READ_ROUND && count + n < BATCH_MAX_MESSAGES && this.heap.peekDue() <= now) {
          dues[n] = this.heap.peekDue();
          offsets[n] = this.heap.pop();
          n++;
        }
        if (n === 0) return;
        this.inFlight = n;
        let read: number;
        try {
          read = await this.readBatch(offsets, n, BATCH_MAX_BYTES - bytes, records);
        } catch (err) {
          this.inFlight = 0;
          if (this.closed) return;
          // Put them back in order and wait before trying the store again.
          for (let i = 0; i < n; i++) this.heap.push(dues[i], offsets[i]);
          this.retryAt = this.now() + READ_RETRY_MS;
          this.onError(err as Error);
          return;
        }
        if (this.closed) {
          this.inFlight = 0;
          return; // unsettled: recovered by the next open
        }
        this.inFlight = read;
        this.retryAt = 0;
        // Over the byte budget: the unread rest goes back, in order, for the next round.
        for (let i = read; i < n; i++) this.heap.push(dues[i], offsets[i]);
        for (let i = 0; i < read; i++) {
          if (this.unsettled >= MAX_UNSETTLED) {
            // Hold the rest (already read) until earlier settles are durable: this bounds what a crash repeats.
            await this.roomBelowCap();
            if (this.closed) {
              this.inFlight = 0;
              return; // the rest stay unsettled: recovered by the next open
            }
          }
          this.inFlight--;
          const rec = records[i];
          count++;
          if (!rec) {
            // Lost to corruption (the store already warned): drop it rather than stall the exchange.
            this.store.settle(offsets[i]);
            continue;
          }
          bytes += rec.body.length + rec.properties.length;
          this.fire(rec, dues[i], offsets[i]);
        }
      }
      // Budget spent with more possibly due: let I/O and other work run first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.closed) return;
    }
  }

  /**
   * Reads the records of a prefix of offsets[0..n) into out (undefined where gone) and returns its length
   * (>= 1): reading stops once about maxBytes are in memory. Messages scheduled with the same delay are due in
   * offset order, so a dense ascending run is read with one range read instead of one read per record.
   */
  private async readBatch(
    offsets: Float64Array,
    n: number,
    maxBytes: number,
    out: (LogRecord | undefined)[],
  ): Promise<number> {
    out.length = n;
    out.fill(undefined);
    // The leading ascending run of offsets; read with one range read when it is dense.
    let run = 1;
    while (run < n && offsets[run] > offsets[run - 1]) run++;
    if (run > 1 && offsets[run - 1] - offsets[0] + 1 <= 2 * run) {
      const range = await this.store.readRange(
        offsets[0],
        Math.max(maxBytes, 1),
        offsets[run - 1] - offsets[0] + 1,
      );
      if (range.length > 0) {
        let k = 0;
        for (const rec of range) {
          while (k < run && offsets[k] < rec.offset) k++;
          if (k >= run) break;
          if (offsets[k] === rec.offset) out[k++] = rec;
        }
        // Offsets up to the last record returned are resolved (missing ones are gone); the rest wait.
        const last = range[range.length - 1].offset;
        let m = 0;
        while (m < run && offsets[m] <= last) m++;
        return Math.max(m, 1);
      }
    }
    // Scattered offsets: point reads, as many at a time as the sizes seen so far fit in the byte budget.
    let bytes = 0;
    let i = 0;
    const reads: Promise<void>[] = [];
    while (i < n && bytes < maxBytes) {
      const parallel = i === 0 ? 1 : Math.floor((maxBytes - bytes) / Math.max(bytes / i, 1));
      const end = Math.min(n, i + Math.min(Math.max(parallel, 1), POINT_READS_PARALLEL));
      for (let at = i; at < end; at++) {
        reads.push(
          this.store.read(offsets[at]).then((rec) => {
            out[at] = rec;
            if (rec) bytes += rec.body.length + rec.properties.length;
          }),
        );
      }
      await Promise.all(reads);
      reads.length = 0;
      i = end;
    }
    return i;
  }

  private fire(rec: LogRecord, dueAt: number, offset: number): void {
    // The expiration property counts from when the message reaches a queue, i.e. from now.
    const message = messageFromRecord(rec, ttlOf(rec.properties));
    let result: unknown;
    try {
      result = this.onDue(message, dueAt);
    } catch (err) {
      // Settled anyway: a message that always throws must not come back forever.
      this.onError(err as Error);
    }
    if (!(result instanceof Promise)) {
      this.store.settle(offset);
      return;
    }
    const epoch = this.epoch;
    this.unsettled++;
    result.then(
      () => {
        this.store.settle(offset);
        if (epoch !== this.epoch) return;
        this.settledSinceFlush++;
        if (this.flushQueued) return;
        // One flush for every settle of this turn: they resolve together, after one queue group commit.
        this.flushQueued = true;
        queueMicrotask(this.flushSettles);
      },
      (err: Error) => {
        this.onError(err);
        if (epoch === this.epoch) this.release(1);
      },
    );
  }

  /** Makes the settles so far durable (written; fsynced in a group commit when the store fsyncs). */
  private readonly flushSettles = (): void => {
    this.flushQueued = false;
    const n = this.settledSinceFlush;
    const epoch = this.epoch;
    this.settledSinceFlush = 0;
    this.store.flush().then(
      () => {
        if (epoch === this.epoch) this.release(n);
      },
      (err: Error) => {
        // Not durable: those may fire again after a crash, like any unsettled message. Count them done.
        this.onError(err);
        if (epoch === this.epoch) this.release(n);
      },
    );
  };

  private release(n: number): void {
    this.unsettled -= n;
    if (this.unsettled < MAX_UNSETTLED) this.roomWaiter?.();
  }

  /**
   * Resolves once fewer than MAX_UNSETTLED fired messages wait for their settle, or on close. A queue store
   * that never confirms (it keeps failing) must not stall every delayed message: after UNSETTLED_STALL_MS the
   * ones counted so far stop counting (they are still settled if they ever are) and firing goes on.
   */
  private roomBelowCap(): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => {
        this.onError(
          new DelayedMessagesError(
            `${this.unsettled} fired messages not durably routed after ${UNSETTLED_STALL_MS} ms; firing on`,
          ),
        );
        this.epoch++;
        this.unsettled = 0;
        this.settledSinceFlush = 0;
        this.roomWaiter?.();
      }, UNSETTLED_STALL_MS);
      this.roomWaiter = () => {
        this.roomWaiter = null;
        this.timers.clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** The per-message TTL from the stored properties; a malformed value (validated at publish) counts as none. */
function ttlOf(properties: Buffer): number {
  let expiration: string | undefined;
  try {
    expiration = rawExpiration(properties);
  } catch {
    return -1;
  }
  if (expiration === undefined || !/^\d{1,15}$/.test(expiration)) return -1;
  return Number(expiration);
}
