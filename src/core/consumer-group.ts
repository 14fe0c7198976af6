import type { FieldValue } from '../codec/field-table.js';
import type { Consumer } from './consumer.js';
import { ConsumerDispatch } from './consumer-dispatch.js';
import { preconditionFailed } from './errors.js';
import type { Message } from './message.js';

/** What decides per-key order in a group: the routing key, or a header's value. */
export type GroupKey = { kind: 'routing-key' } | { kind: 'header'; name: string };

interface InFlight {
  member: Consumer;
  owner: object | null;
  key: string | undefined;
}

/** Group figures for inspection (lag = messages in the stream not yet acked by the group). */
export interface GroupInfo {
  name: string;
  committed: number;
  next: number;
  lag: number;
  members: number;
  inFlight: number;
  waiting: number;
  key: string | null;
}

/** Parses the consumer argument x-group-key: "routing-key" or "header:NAME". */
export function parseGroupKey(value: FieldValue | undefined, describe: string): GroupKey | undefined {
  if (value === undefined) return undefined;
  if (value === 'routing-key') return { kind: 'routing-key' };
  if (typeof value === 'string' && value.startsWith('header:') && value.length > 7) {
    return { kind: 'header', name: value.slice(7) };
  }
  throw preconditionFailed(
    `invalid arg 'x-group-key' for ${describe}: expected "routing-key" or "header:NAME"`,
  );
}

function describeKey(key: GroupKey | undefined): string | null {
  if (!key) return null;
  return key.kind === 'routing-key' ? 'routing-key' : `header:${key.name}`;
}

/** Inserts offset into an ascending array. */
function insertSorted(list: number[], offset: number): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid] < offset) lo = mid + 1;
    else hi = mid;
  }
  list.splice(lo, 0, offset);
}

/**
 * A named consumer group on a stream (EventterMQ's model): every group sees every message, and within a group
 * each message goes to one member, which acks it. A member's unacked messages go to another member when its
 * holder (channel, session) ends. With a key, messages sharing a key go to one member at a time, in order:
 * a message whose key is busy waits until the one before it is acked. Everything before `committed` is done;
 * that position is what the stream persists, so a restart resumes there.
 */
export class ConsumerGroup {
  readonly members: ConsumerDispatch;
  /** The next stream offset this group has not handed out yet. */
  next: number;
  /** Offsets to hand out again (released by a member that went, nacked, or waiting behind a key), ascending. */
  private readonly retry: number[] = [];
  private readonly inFlight = new Map<number, InFlight>();
  /** Offsets delivered before (their next delivery is flagged redelivered). */
  private readonly delivered = new Set<number>();
  /** Key -> the offset of that key in flight; key -> offsets waiting for it, ascending. */
  private readonly busyKeys = new Map<string, number>();
  private readonly waiting = new Map<string, number[]>();
  private waitingCount = 0;
  /** The committed position changed since the stream last saved it. */
  dirty = false;

  constructor(
    readonly name: string,
    start: number,
    readonly key: GroupKey | undefined,
    describe: () => string,
  ) {
    this.next = start;
    this.members = new ConsumerDispatch(describe);
  }

  /** Everything before this offset is acked (or skipped: not in the log any more). */
  get committed(): number {
    let low = this.retry.length > 0 ? Math.min(this.retry[0], this.next) : this.next;
    for (const offset of this.inFlight.keys()) if (offset < low) low = offset;
    if (this.waitingCount > 0) for (const list of this.waiting.values()) if (list[0] < low) low = list[0];
    return low;
  }

  info(streamNext: number): GroupInfo {
    const committed = this.committed;
    return {
      name: this.name,
      committed,
      next: this.next,
      lag: Math.max(0, streamNext - committed),
      members: this.members.count,
      inFlight: this.inFlight.size,
      waiting: this.waitingCount,
      key: describeKey(this.key),
    };
  }

  /** The next offset to try to hand out, or -1 when the group has nothing below `end`. */
  candidate(end: number): number {
    if (this.retry.length > 0) return this.retry[0];
    return this.next < end ? this.next : -1;
  }

  /**
   * Hands `offset` (the current candidate) to a member with credit, or parks it behind its key. Returns false
   * when no member has credit (the caller stops for now).
   */
  offer(
    offset: number,
    message: Message,
    deliver: (member: Consumer, redelivered: boolean) => void,
  ): boolean {
    const key = this.key ? this.keyOf(message) : undefined;
    if (key !== undefined) {
      const busy = this.busyKeys.get(key);
      if (busy !== undefined && busy !== offset) {
        this.take(offset);
        let list = this.waiting.get(key);
        if (!list) this.waiting.set(key, (list = []));
        insertSorted(list, offset);
        this.waitingCount++;
        return true;
      }
    }
    const member = this.members.next(false);
    if (!member) return false;
    this.take(offset);
    this.inFlight.set(offset, { member, owner: member.holder ?? null, key });
    if (key !== undefined) this.busyKeys.set(key, offset);
    const redelivered = this.delivered.has(offset);
    this.delivered.add(offset);
    deliver(member, redelivered);
    return true;
  }

  /** Whether member holds offset unacked in this group. */
  holds(offset: number, member: Consumer | null): boolean {
    const f = this.inFlight.get(offset);
    return f !== undefined && (member === null || f.member === member);
  }

  /** The message at offset is done (acked, or rejected without requeue). */
  settle(offset: number): void {
    const f = this.inFlight.get(offset);
    if (!f) return;
    this.inFlight.delete(offset);
    this.delivered.delete(offset);
    this.freeKey(f.key, offset);
    this.dirty = true;
  }

  /** The message at offset goes back, to be handed out again (nack with requeue). */
  requeue(offset: number): void {
    const f = this.inFlight.get(offset);
    if (!f) return;
    this.inFlight.delete(offset);
    insertSorted(this.retry, offset);
    // Its key stays with it: it is the oldest of its key, so it goes out again before the ones waiting.
    if (f.key !== undefined) this.busyKeys.set(f.key, offset);
  }

  /** Everything owner holds goes back (its channel or session ended). */
  releaseOwner(owner: object): number {
    let n = 0;
    for (const [offset, f] of this.inFlight) {
      if (f.owner !== owner) continue;
      this.requeue(offset);
      n++;
    }
    return n;
  }

  /** Skips offsets the log no longer holds (retention, damage): they count as done. */
  skipTo(offset: number): void {
    if (this.next < offset) this.next = offset;
    while (this.retry.length > 0 && this.retry[0] < offset) this.retry.shift();
  }

  /** Moves the group to `offset` (a reset for replay): what waits is dropped, what is in flight may still be acked. */
  reset(offset: number): void {
    this.next = offset;
    this.retry.length = 0;
    this.waiting.clear();
    this.waitingCount = 0;
    this.busyKeys.clear();
    for (const [o, f] of this.inFlight) if (f.key !== undefined) this.busyKeys.set(f.key, o);
    this.dirty = true;
  }

  /** Removes offset from where it came from: the head of retry, or the stream cursor. */
  private take(offset: number): void {
    if (this.retry.length > 0 && this.retry[0] === offset) this.retry.shift();
    else if (offset === this.next) this.next++;
  }

  private freeKey(key: string | undefined, offset: number): void {
    if (key === undefined || this.busyKeys.get(key) !== offset) return;
    this.busyKeys.delete(key);
    const list = this.waiting.get(key);
    if (!list) return;
    const first = list.shift()!;
    this.waitingCount--;
    if (list.length === 0) this.waiting.delete(key);
    insertSorted(this.retry, first);
    this.busyKeys.set(key, first); // reserved: nothing later of this key overtakes it
  }

  private keyOf(message: Message): string | undefined {
    const key = this.key!;
    if (key.kind === 'routing-key') return message.routingKey;
    const v = message.headers?.[key.name];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : JSON.stringify(v);
  }
}
