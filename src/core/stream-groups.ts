import type { Consumer } from './consumer.js';
import { ConsumerGroup, type GroupInfo, type GroupKey } from './consumer-group.js';
import type { Message } from './message.js';

/** Where a stream's groups keep their committed positions (the metadata store, in the broker). */
export interface GroupPositions {
  /** Positions saved before, by group name. */
  load(): Map<string, number>;
  save(name: string, committed: number): Promise<void>;
  deleteAll(names: string[]): Promise<void>;
}

/** How often, at most, a group's committed position is written while it moves. */
const SAVE_INTERVAL_MS = 20;

export type SettleAction = 'ack' | 'requeue' | 'reject';

/**
 * The consumer groups of one stream: membership, dispatch to members, settles and releases, and saving each
 * group's committed position (batched: at most every SAVE_INTERVAL_MS while acks arrive, and at close).
 * After kill -9 a group resumes at its last saved position: messages acked within that window come again.
 */
export class StreamGroups {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly memberOf = new Map<Consumer, ConsumerGroup>();
  /** Positions as last written (or found at start). */
  private readonly saved: Map<string, number>;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  /** Groups whose start is still being looked up (a time needs the log). */
  private readonly resolving = new Set<ConsumerGroup>();

  constructor(
    private readonly positions: GroupPositions,
    private readonly describe: () => string,
    private readonly onError: (err: Error) => void,
  ) {
    this.saved = positions.load();
  }

  get size(): number {
    return this.groups.size;
  }

  isMember(consumer: Consumer): boolean {
    return this.memberOf.has(consumer);
  }

  /**
   * Adds consumer to group `name`, creating the group at its saved position or else at `start` (an offset, or a
   * promise of one while a time is looked up). Members that join later ignore their own start.
   */
  join(
    consumer: Consumer,
    name: string,
    key: GroupKey | undefined,
    start: () => number | Promise<number>,
  ): void {
    let group = this.groups.get(name);
    if (!group) {
      const saved = this.saved.get(name);
      const first = saved ?? start();
      group = new ConsumerGroup(name, typeof first === 'number' ? first : 0, key, this.describe);
      this.groups.set(name, group);
      if (typeof first !== 'number') {
        const g = group;
        this.resolving.add(g);
        first.then(
          (offset) => {
            g.next = offset;
            g.dirty = true;
            this.resolving.delete(g);
            this.scheduleSave();
          },
          (err: Error) => this.onError(err),
        );
      } else if (saved === undefined) {
        group.dirty = true;
        this.scheduleSave();
      }
    }
    group.members.add(consumer);
    this.memberOf.set(consumer, group);
  }

  leave(consumer: Consumer): void {
    const group = this.memberOf.get(consumer);
    if (!group) return;
    group.members.remove(consumer);
    this.memberOf.delete(consumer);
  }

  /**
   * Hands out what each group can take now. `cached` finds a message, `read` starts loading one; returns the
   * lowest offset any group still needs (the shared cache keeps everything from there).
   */
  drain(
    end: number,
    firstOffset: number,
    cached: (offset: number) => Message | undefined,
    read: (offset: number) => void,
    deliver: (member: Consumer, offset: number, message: Message, redelivered: boolean) => void,
  ): number {
    let lowest = end;
    for (const group of this.groups.values()) {
      if (this.resolving.has(group)) continue;
      if (group.members.count > 0) {
        for (;;) {
          const offset = group.candidate(end);
          if (offset < 0) break;
          if (offset < firstOffset) {
            group.skipTo(firstOffset); // retention went past it
            continue;
          }
          const message = cached(offset);
          if (!message) {
            read(offset);
            break;
          }
          const offered = group.offer(offset, message, (member, redelivered) =>
            deliver(member, offset, message, redelivered),
          );
          if (!offered) break;
        }
      }
      lowest = Math.min(lowest, group.committed);
    }
    return lowest;
  }

  /** Offsets [from, found) are not in the log: every group skips them. */
  skipGap(from: number, found: number): void {
    for (const group of this.groups.values()) {
      const c = group.candidate(Number.POSITIVE_INFINITY);
      if (c >= from && c < found) group.skipTo(found);
    }
  }

  /** Applies an ack, nack or reject of a group member; false if the delivery was not a group's. */
  settle(offset: number, consumer: Consumer | null, action: SettleAction): boolean {
    const group = this.groupHolding(offset, consumer);
    if (!group) return false;
    if (action === 'requeue') group.requeue(offset);
    else group.settle(offset);
    this.scheduleSave();
    return true;
  }

  /** Every message owner holds in any group goes back to that group. */
  releaseOwner(owner: object): void {
    for (const group of this.groups.values()) if (group.releaseOwner(owner) > 0) this.scheduleSave();
  }

  /** Moves a group (existing, saved, or new) to `offset` and saves it at once. */
  async reset(name: string, offset: number, key?: GroupKey): Promise<void> {
    let group = this.groups.get(name);
    if (!group) {
      group = new ConsumerGroup(name, offset, key, this.describe);
      this.groups.set(name, group);
    }
    group.reset(offset);
    await this.saveNow();
  }

  info(streamNext: number): GroupInfo[] {
    const out = [...this.groups.values()].map((g) => g.info(streamNext));
    for (const [name, committed] of this.saved) {
      if (this.groups.has(name)) continue;
      out.push({
        name,
        committed,
        next: committed,
        lag: Math.max(0, streamNext - committed),
        members: 0,
        inFlight: 0,
        waiting: 0,
        key: null,
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Writes every moved position now (close, reset). */
  async saveNow(): Promise<void> {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    const writes: Array<Promise<void>> = [];
    for (const group of this.groups.values()) {
      if (!group.dirty) continue;
      group.dirty = false;
      const committed = group.committed;
      if (this.saved.get(group.name) === committed) continue;
      this.saved.set(group.name, committed);
      writes.push(this.positions.save(group.name, committed));
    }
    this.saving = Promise.all(writes).then(
      () => {},
      (err: Error) => this.onError(err),
    );
    await this.saving;
  }

  async close(): Promise<void> {
    await this.saveNow();
  }

  /** The stream is deleted: its groups' positions go with it. */
  async deleteAll(): Promise<void> {
    clearTimeout(this.saveTimer);
    const names = new Set([...this.saved.keys(), ...this.groups.keys()]);
    this.groups.clear();
    this.memberOf.clear();
    await this.saving;
    await this.positions.deleteAll([...names]);
  }

  private groupHolding(offset: number, consumer: Consumer | null): ConsumerGroup | undefined {
    const own = consumer ? this.memberOf.get(consumer) : undefined;
    if (own?.holds(offset, consumer)) return own;
    // A cancelled member may still ack what it holds: look in every group.
    for (const group of this.groups.values()) if (group.holds(offset, consumer)) return group;
    return undefined;
  }

  private scheduleSave(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.saveNow();
    }, SAVE_INTERVAL_MS);
    this.saveTimer.unref();
  }
}
