/**
 * One confirm-mode publisher: its own connection and channel, persistent messages with unique ids, a bounded
 * number of unconfirmed publishes, random targets (a queue through the default exchange, or the direct or
 * topic exchange for fan-out). It runs until stopped or until the broker dies under it.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { connect, openConfirmChannel } from '../helpers/amqp-client.js';
import type { Ledger } from './ledger.js';
import { makeBody, randomBodySize } from './payload.js';
import type { Rng } from './rng.js';
import { DEFAULT_EXCHANGE, DIRECT_EXCHANGE, DIRECT_KEYS, TOPIC_EXCHANGE, TOPIC_KEYS } from './topology.js';

export interface PublisherOptions {
  url: string;
  cycle: number;
  index: number;
  ledger: Ledger;
  rng: Rng;
  /** Most unconfirmed publishes at once. */
  window: number;
  /** True while publishing should wait (the backlog is too large). */
  paused: () => boolean;
}

export class Publisher {
  private stopped = false;
  private inflight = 0;
  private seq = 0;
  private wake: (() => void) | null = null;
  private conn: ChannelModel | undefined;

  constructor(private readonly o: PublisherOptions) {}

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** Publishes until stopped or the connection dies; never rejects. */
  async run(): Promise<void> {
    let ch: ConfirmChannel;
    try {
      this.conn = await connect(this.o.url);
      ch = await openConfirmChannel(this.conn);
    } catch {
      return;
    }
    let dead = false;
    const die = (): void => {
      dead = true;
      this.wake?.();
    };
    this.conn.on('close', die);
    ch.on('close', die);
    let sinceYield = 0;
    while (!this.stopped && !dead) {
      if (this.inflight >= this.o.window || this.o.paused()) {
        await this.nap();
        continue;
      }
      const target = this.pickTarget();
      if (target === undefined) {
        await this.nap();
        continue;
      }
      if (!this.publishOne(ch, target.exchange, target.key)) break;
      if (++sinceYield >= 8) {
        sinceYield = 0;
        await new Promise((r) => setImmediate(r));
      }
    }
    if (!dead) await this.conn.close().catch(() => {});
  }

  private publishOne(ch: ConfirmChannel, exchange: string, key: string): boolean {
    const { ledger, rng } = this.o;
    const id = `${this.o.cycle}-${this.o.index}-${this.seq++}`;
    const body = makeBody(id, randomBodySize(rng));
    const msg = ledger.recordSend(id, body.length, exchange, key);
    this.inflight += 1;
    try {
      ch.publish(exchange, key, body, { persistent: true, messageId: id }, (err: unknown) => {
        this.inflight -= 1;
        const nacked = err instanceof Error && err.message === 'message nacked';
        ledger.recordConfirm(msg, err == null ? 'ack' : nacked ? 'nack' : 'unknown');
        this.wake?.();
      });
      return true;
    } catch {
      this.inflight -= 1;
      ledger.recordConfirm(msg, 'unknown');
      return false;
    }
  }

  private pickTarget(): { exchange: string; key: string } | undefined {
    const { rng, ledger } = this.o;
    const roll = rng.next();
    if (roll < 0.2) return { exchange: DIRECT_EXCHANGE, key: rng.pick(DIRECT_KEYS) };
    if (roll < 0.5) return { exchange: TOPIC_EXCHANGE, key: rng.pick(TOPIC_KEYS) };
    const live = ledger.queuesIn('live');
    if (live.length === 0) return undefined;
    return { exchange: DEFAULT_EXCHANGE, key: rng.pick(live).name };
  }

  private nap(): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, 20);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
