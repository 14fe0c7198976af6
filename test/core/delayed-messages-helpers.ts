/** The fake clock and store harness shared by the DelayedMessages unit tests. */
import assert from 'node:assert/strict';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';
import {
  DelayedMessages,
  type DelayTimers,
  type DueCallback,
  MAX_TIMER_MS,
} from '../../src/core/delayed-messages.js';
import { Message } from '../../src/core/message.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';

const commit = new GroupCommit({ fsync: false });

/** A manual clock whose timers only fire on advance(); counts how many are pending at once. */
export class FakeClock implements DelayTimers {
  now = 1_000_000;
  private nextId = 1;
  readonly pending = new Map<number, { at: number; cb: () => void }>();
  maxPending = 0;
  armed: number[] = [];

  setTimeout(cb: () => void, ms: number): unknown {
    assert.ok(ms >= 0 && ms <= MAX_TIMER_MS, `timer delay ${ms}`);
    const id = this.nextId++;
    this.pending.set(id, { at: this.now + ms, cb });
    this.armed.push(ms);
    this.maxPending = Math.max(this.maxPending, this.pending.size);
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending.delete(handle as number);
  }

  /** Moves the clock to `to`, firing due timers in time order. */
  advance(to: number): void {
    this.now = Math.max(this.now, to);
    for (;;) {
      let first: [number, { at: number; cb: () => void }] | undefined;
      for (const e of this.pending) if (e[1].at <= this.now && (!first || e[1].at < first[1].at)) first = e;
      if (!first) return;
      this.pending.delete(first[0]);
      first[1].cb();
    }
  }
}

export interface Fired {
  body: string;
  dueAt: number;
  message: Message;
}

export function message(
  body: string,
  persistent = true,
  props: Parameters<typeof encodeBasicProperties>[0] = {},
) {
  const properties = encodeBasicProperties({ deliveryMode: persistent ? 2 : 1, ...props });
  return Message.fromPublish('delayed', 'rk', properties, Buffer.from(body), 500);
}

export async function openStore(dir: string, durable = true): Promise<QueueStore> {
  return QueueStore.open({ dir, commit, fsync: true, durable, segmentMaxBytes: 4096 });
}

export async function open(
  dir: string,
  clock: FakeClock,
  fired: Fired[],
  opts: { durable?: boolean; onDue?: DueCallback; errors?: Error[] } = {},
): Promise<DelayedMessages> {
  return DelayedMessages.open({
    store: await openStore(dir, opts.durable ?? true),
    now: () => clock.now,
    timers: clock,
    onError: (err) => opts.errors?.push(err),
    onDue:
      opts.onDue ??
      ((m, dueAt) => {
        fired.push({ body: m.body.toString(), dueAt, message: m });
        return undefined;
      }),
  });
}

export function stored(dm: DelayedMessages, m: Message, dueAt: number): Promise<void> {
  return new Promise((resolve, reject) => dm.schedule(m, dueAt, (err) => (err ? reject(err) : resolve())));
}

export async function advance(clock: FakeClock, dm: DelayedMessages, to: number): Promise<void> {
  clock.advance(to);
  await dm.whenIdle();
  clock.advance(to); // a drain that ended re-arms; fire again if that timer is already due
  await dm.whenIdle();
}
