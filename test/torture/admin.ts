/**
 * The admin connection: declares the durable topology, reconciles the ledger's view of it after every
 * restart (queues whose declare or delete was cut off by the kill, lost or resurrected queues), and runs
 * the random chaos during a cycle (create and delete dynamic queues, purge queues).
 */
import type { Channel, ChannelModel } from 'amqplib';
import { type AmqpError, connect, openChannel, sleep } from '../helpers/amqp-client.js';
import type { Ledger } from './ledger.js';
import type { Rng } from './rng.js';
import {
  DIRECT_EXCHANGE,
  DYNAMIC_BINDINGS,
  type QueueRec,
  STABLE_QUEUES,
  TOPIC_EXCHANGE,
} from './topology.js';

const OP_TIMEOUT_MS = 8_000;
const MAX_DYNAMIC_QUEUES = 4;

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no reply within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class Admin {
  private conn: ChannelModel | undefined;
  private ch: Channel | undefined;
  private dynamicCounter = 0;

  constructor(
    private readonly url: string,
    private readonly ledger: Ledger,
    private readonly rng: Rng,
    private readonly log: (line: string) => void,
  ) {}

  async open(): Promise<void> {
    this.conn = await connect(this.url);
    this.dynamicCounter = [...this.ledger.queues.values()].filter((q) => !q.stable).length;
  }

  async close(): Promise<void> {
    await this.conn?.close().catch(() => {});
  }

  /** Runs `body` on the admin channel, reopening it if an earlier error closed it. */
  private async op<T>(what: string, body: (ch: Channel) => Promise<T>): Promise<T> {
    if (this.conn === undefined) throw new Error('admin connection not open');
    if (this.ch === undefined) {
      const ch = await openChannel(this.conn);
      ch.on('close', () => {
        if (this.ch === ch) this.ch = undefined;
      });
      this.ch = ch;
    }
    return withTimeout(body(this.ch), OP_TIMEOUT_MS, what);
  }

  /** The queue's ready count, or null if it does not exist (on a throwaway channel: a 404 closes it). */
  async probe(name: string): Promise<number | null> {
    if (this.conn === undefined) throw new Error('admin connection not open');
    const ch = await openChannel(this.conn);
    try {
      const ok = await withTimeout(ch.checkQueue(name), OP_TIMEOUT_MS, `check ${name}`);
      await ch.close().catch(() => {});
      return ok.messageCount;
    } catch (err) {
      if ((err as AmqpError).code === 404) return null;
      throw err;
    }
  }

  private async exchangeExists(name: string): Promise<boolean> {
    if (this.conn === undefined) throw new Error('admin connection not open');
    const ch = await openChannel(this.conn);
    try {
      await withTimeout(ch.checkExchange(name), OP_TIMEOUT_MS, `check exchange ${name}`);
      await ch.close().catch(() => {});
      return true;
    } catch (err) {
      if ((err as AmqpError).code === 404) return false;
      throw err;
    }
  }

  private async declareExchanges(): Promise<void> {
    await this.op('declare exchanges', async (ch) => {
      await ch.assertExchange(DIRECT_EXCHANGE, 'direct', { durable: true });
      await ch.assertExchange(TOPIC_EXCHANGE, 'topic', { durable: true });
    });
  }

  /** Declares and binds `q` (already in the ledger), marking each step proven as its reply arrives. */
  private async declareAndBind(q: QueueRec): Promise<void> {
    await this.op(`declare ${q.name}`, (ch) => ch.assertQueue(q.name, { durable: true }));
    q.state = 'live';
    for (const b of q.bindings) {
      if (b.proven) continue;
      this.ledger.bindStarted(q, b);
      await this.op(`bind ${q.name}`, (ch) => ch.bindQueue(q.name, b.exchange, b.pattern));
      b.proven = true;
    }
  }

  /** Reconciles after a (re)start, then declares any stable queue not yet declared. Returns the backlog. */
  async prepare(): Promise<number> {
    const backlog = await this.reconcile();
    for (const spec of STABLE_QUEUES) {
      if (this.ledger.queues.has(spec.name)) continue;
      const q = this.ledger.addQueue(spec.name, true);
      for (const b of spec.bindings) q.bindings.push({ ...b, proven: false });
      await this.declareAndBind(q);
    }
    return backlog;
  }

  /**
   * After a restart: makes the ledger's topology match the broker's. Proven bindings of surviving queues
   * are not re-bound, so a binding lost in recovery shows up as missing messages. Returns the ready backlog.
   */
  private async reconcile(): Promise<number> {
    for (const name of [DIRECT_EXCHANGE, TOPIC_EXCHANGE]) {
      if (!this.ledger.exchangesDeclared || (await this.exchangeExists(name))) continue;
      this.ledger.c.lostExchanges += 1;
      this.ledger.sample(`lost exchange after restart: ${name}`);
    }
    await this.declareExchanges();
    this.ledger.exchangesDeclared = true;
    let backlog = 0;
    for (const q of this.ledger.queues.values()) {
      if (q.state === 'deleted') {
        if (q.deletedLife > 0 && q.deletedLife === this.ledger.life - 1) await this.checkStaysDeleted(q);
        continue;
      }
      const count = await this.probe(q.name);
      if (q.state === 'deleting') {
        if (count !== null) await this.deleteQueue(q);
        else q.state = 'deleted';
        continue;
      }
      if (count === null && q.state === 'declaring' && !q.stable) {
        q.state = 'deleted';
        q.deleteStarted = true; // never certainly existed: nothing routed to it was certain either
        continue;
      }
      if (count === null && q.state === 'live') {
        this.ledger.c.lostQueues += 1;
        this.ledger.sample(`lost queue after restart: ${q.name} (its declare-ok had arrived)`);
        if (!q.stable) {
          q.state = 'deleted';
          continue;
        }
      }
      if (count === null || q.state === 'declaring') for (const b of q.bindings) b.proven = false;
      backlog += count ?? 0;
      await this.declareAndBind(q);
    }
    return backlog;
  }

  /** Every queue whose delete-ok arrived must still be gone. */
  async checkAllDeleted(): Promise<void> {
    for (const q of this.ledger.queuesIn('deleted')) if (q.deletedLife > 0) await this.checkStaysDeleted(q);
  }

  private async checkStaysDeleted(q: QueueRec): Promise<void> {
    if ((await this.probe(q.name)) === null) return;
    this.ledger.c.resurrectedQueues += 1;
    this.ledger.sample(`queue ${q.name} came back after its delete-ok (deleted in life ${q.deletedLife})`);
    await this.deleteQueue(q);
  }

  private async deleteQueue(q: QueueRec): Promise<void> {
    q.state = 'deleting';
    q.deleteStarted = true;
    await this.op(`delete ${q.name}`, (ch) => ch.deleteQueue(q.name));
    q.state = 'deleted';
    q.deletedLife = this.ledger.life;
  }

  /** Random admin actions until `stopped()`; never rejects (errors are expected when the broker dies). */
  async chaos(stopped: () => boolean, onNewQueue: () => void): Promise<void> {
    while (!stopped()) {
      await sleep(this.rng.int(50, 400));
      if (stopped()) return;
      const roll = this.rng.next();
      try {
        if (roll < 0.25) {
          if (await this.createDynamic()) onNewQueue();
        } else if (roll < 0.4) await this.deleteDynamic();
        else if (roll < 0.6) await this.purgeRandom();
      } catch (err) {
        if (!stopped()) this.log(`admin: ${(err as Error).message}`);
        if (this.conn === undefined || stopped()) return;
        await sleep(50);
      }
    }
  }

  private async createDynamic(): Promise<boolean> {
    const alive = this.ledger.queuesIn('declaring', 'live').filter((q) => !q.stable);
    if (alive.length >= MAX_DYNAMIC_QUEUES) return false;
    this.dynamicCounter += 1;
    const q = this.ledger.addQueue(`torture.d${this.dynamicCounter}`, false);
    const count = this.rng.int(0, 2);
    for (let i = 0; i < count; i++) {
      const spec = this.rng.pick(DYNAMIC_BINDINGS);
      if (!q.bindings.some((b) => b.exchange === spec.exchange && b.pattern === spec.pattern)) {
        q.bindings.push({ ...spec, proven: false });
      }
    }
    this.ledger.c.queueCreates += 1;
    await this.declareAndBind(q);
    return true;
  }

  private async deleteDynamic(): Promise<void> {
    const live = this.ledger.queuesIn('live').filter((q) => !q.stable);
    if (live.length === 0) return;
    this.ledger.c.queueDeletes += 1;
    await this.deleteQueue(this.rng.pick(live));
  }

  private async purgeRandom(): Promise<void> {
    const q = this.rng.pick(this.ledger.queuesIn('live'));
    this.ledger.purgeStarted(q);
    await this.op(`purge ${q.name}`, (ch) => ch.purgeQueue(q.name));
    this.ledger.purgeDone(q);
  }
}
