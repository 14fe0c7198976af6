/**
 * The exact account the torture run keeps across broker lives: for every message id, how its publish was
 * answered and, for every queue it was routed to (a "copy"), how often it was delivered and whether its
 * ack was sent and proven to have reached the broker. Deliveries are classified as they arrive; the final
 * verdict (missing, lost, phantom...) is computed by verdict.ts from this state.
 */
import { bodyId, bodyMatches } from './payload.js';
import { RetiredIds } from './retired-ids.js';
import { type Binding, bindingMatches, QueueRec, route } from './topology.js';

export type ConfirmState = 'pending' | 'confirmed' | 'nacked' | 'unknown';
/** queued: ready in the broker; unacked: delivered, not settled; ackSent: ack written; ackProven: a later round trip on that channel completed. */
export type CopyState = 'queued' | 'unacked' | 'ackSent' | 'ackProven';

/** A consumer channel, as far as the ledger cares: which broker life it belongs to and whether it is gone. */
export interface ChanRef {
  readonly id: number;
  readonly life: number;
  closed: boolean;
}

export class Copy {
  deliveries = 0;
  state: CopyState = 'queued';
  chan: ChanRef | null = null;
  ackLife = 0;

  constructor(
    readonly queue: QueueRec,
    readonly must: boolean,
  ) {}
}

export class Msg {
  confirm: ConfirmState = 'pending';

  constructor(
    readonly id: string,
    readonly size: number,
    readonly seq: number,
    readonly life: number,
    readonly exchange: string,
    readonly key: string,
    readonly copies: Copy[],
  ) {}

  copyIn(queue: string): Copy | undefined {
    for (const c of this.copies) if (c.queue.name === queue) return c;
    return undefined;
  }
}

export function newCounters() {
  return {
    cycles: 0,
    kills: 0,
    sent: 0,
    confirmed: 0,
    nacked: 0,
    unconfirmed: 0,
    copiesRouted: 0,
    copiesInDoubt: 0,
    deliveries: 0,
    acksSent: 0,
    acksProven: 0,
    requeues: 0,
    redeliveredAfterNack: 0,
    redeliveredAfterChannelClose: 0,
    redeliveredAfterKill: 0,
    ackInFlightRedelivered: 0,
    duplicates: 0,
    duplicatesAfterCleanStop: 0,
    doubleDeliveries: 0,
    redeliveryWithoutFlag: 0,
    phantom: 0,
    misrouted: 0,
    corrupt: 0,
    purges: 0,
    queueCreates: 0,
    queueDeletes: 0,
    lostQueues: 0,
    lostExchanges: 0,
    resurrectedQueues: 0,
    leftoverAfterDrain: 0,
    leftoverAfterCleanRestart: 0,
    brokerWarnings: 0,
    runnerErrors: 0,
  };
}
export type Counters = ReturnType<typeof newCounters>;

const MAX_SAMPLES = 40;

export class Ledger {
  life = 0;
  /** The torture exchanges were declared once: from then on they must survive every restart. */
  exchangesDeclared = false;
  /** The broker's previous life ended with a graceful stop, not a kill. */
  lastStopClean = false;
  private nextSeq = 0;
  readonly msgs = new Map<string, Msg>();
  /** Ids judged and dropped from `msgs` (see verdict.ts retireSettled), with their body size. */
  readonly retired = new RetiredIds();
  private readonly pending = new Set<Msg>();
  readonly queues = new Map<string, QueueRec>();
  readonly c: Counters = newCounters();
  readonly samples: string[] = [];
  private nextChanId = 0;

  startLife(previousStopClean: boolean): number {
    this.life += 1;
    this.lastStopClean = previousStopClean;
    return this.life;
  }

  newChan(): ChanRef {
    this.nextChanId += 1;
    return { id: this.nextChanId, life: this.life, closed: false };
  }

  /** The next send sequence: every message sent so far has a smaller one. */
  get seqNow(): number {
    return this.nextSeq;
  }

  addQueue(name: string, stable: boolean): QueueRec {
    const q = new QueueRec(name, stable, this.nextSeq);
    this.queues.set(name, q);
    return q;
  }

  queuesIn(...states: QueueRec['state'][]): QueueRec[] {
    return [...this.queues.values()].filter((q) => states.includes(q.state));
  }

  sample(line: string): void {
    if (this.samples.length < MAX_SAMPLES) this.samples.push(line);
  }

  recordSend(id: string, size: number, exchange: string, key: string): Msg {
    if (this.msgs.has(id) || this.retired.has(id)) throw new Error(`torture bug: id ${id} sent twice`);
    const copies = route(this.queues.values(), exchange, key).map((t) => new Copy(t.queue, t.must));
    const msg = new Msg(id, size, this.nextSeq++, this.life, exchange, key, copies);
    this.msgs.set(id, msg);
    this.pending.add(msg);
    this.c.sent += 1;
    this.c.copiesRouted += copies.length;
    for (const copy of copies) if (!copy.must) this.c.copiesInDoubt += 1;
    return msg;
  }

  recordConfirm(msg: Msg, outcome: 'ack' | 'nack' | 'unknown'): void {
    if (msg.confirm !== 'pending') return;
    this.pending.delete(msg);
    if (outcome === 'ack') {
      msg.confirm = 'confirmed';
      this.c.confirmed += 1;
    } else if (outcome === 'nack') {
      msg.confirm = 'nacked';
      this.c.nacked += 1;
    } else {
      msg.confirm = 'unknown';
      this.c.unconfirmed += 1;
    }
  }

  /**
   * Accounts one delivery and returns the copy to settle, or undefined when there is no copy of it in this
   * queue to settle (phantom, misrouted, or long retired: the caller acks it away).
   */
  recordDelivery(
    queue: string,
    messageId: string | undefined,
    body: Buffer,
    redelivered: boolean,
    chan: ChanRef,
    where: () => string,
  ): Copy | undefined {
    this.c.deliveries += 1;
    const id = messageId ?? bodyId(body);
    const msg = id === undefined ? undefined : this.msgs.get(id);
    const retiredSize = msg === undefined && id !== undefined ? this.retired.get(id) : undefined;
    if (id !== undefined && retiredSize !== undefined) {
      // Every copy was acked and proven (or its queue deleted) before an earlier kill.
      if (messageId !== id || !bodyMatches(body, id, retiredSize)) this.c.corrupt += 1;
      else this.c.duplicates += 1;
      return undefined;
    }
    if (msg === undefined) {
      this.c.phantom += 1;
      this.sample(
        `phantom: queue ${queue} messageId ${messageId} body starts ${JSON.stringify(body.subarray(0, 24).toString('latin1'))}`,
      );
      return undefined;
    }
    if (messageId !== msg.id || !bodyMatches(body, msg.id, msg.size)) {
      // Counted, then settled like any delivery of its copy, so it is not reported missing as well.
      this.c.corrupt += 1;
      this.sample(
        `corrupt: queue ${queue} id ${msg.id} messageId ${messageId} size ${body.length}/${msg.size}`,
      );
    }
    const copy = msg.copyIn(queue);
    if (copy === undefined) {
      this.c.misrouted += 1;
      const q = this.queues.get(queue);
      this.sample(
        `misrouted: id ${msg.id} (seq ${msg.seq}, life ${msg.life}) delivered from ${queue} ` +
          `(declared at seq ${q?.createdSeq}, ${q?.state}) in life ${chan.life}, ${where()}; ` +
          `routed to [${msg.copies.map((k) => k.queue.name)}]`,
      );
      return undefined;
    }
    this.classifyRedelivery(copy, msg, redelivered, chan);
    copy.deliveries += 1;
    copy.state = 'unacked';
    copy.chan = chan;
    return copy;
  }

  private classifyRedelivery(copy: Copy, msg: Msg, redelivered: boolean, chan: ChanRef): void {
    if (copy.deliveries === 0) return;
    const prev = copy.chan;
    const sameLifeOpen = prev !== null && prev.life === chan.life && !prev.closed;
    if (copy.state === 'queued') {
      this.c.redeliveredAfterNack += 1;
      if (!redelivered && prev !== null && prev.life === chan.life) this.c.redeliveryWithoutFlag += 1;
    } else if (copy.state === 'unacked' || copy.state === 'ackSent') {
      if (sameLifeOpen) {
        this.c.doubleDeliveries += 1;
        this.sample(
          `double delivery: id ${msg.id} queue ${copy.queue.name} was ${copy.state} on open channel ${prev.id}, again on ${chan.id}`,
        );
      } else if (prev !== null && prev.life < chan.life) {
        if (copy.state === 'unacked') this.c.redeliveredAfterKill += 1;
        else this.c.ackInFlightRedelivered += 1;
      } else {
        this.c.redeliveredAfterChannelClose += 1;
        if (!redelivered) this.c.redeliveryWithoutFlag += 1;
      }
    } else if (copy.ackLife === chan.life) {
      this.c.doubleDeliveries += 1;
      this.sample(
        `redelivered after proven ack in the same broker life: id ${msg.id} queue ${copy.queue.name}`,
      );
    } else if (copy.ackLife === chan.life - 1 && this.lastStopClean) {
      this.c.duplicatesAfterCleanStop += 1;
      this.sample(
        `redelivered after a proven ack and a graceful stop: id ${msg.id} queue ${copy.queue.name}`,
      );
    } else {
      this.c.duplicates += 1;
    }
  }

  ackSent(copy: Copy, chan: ChanRef): void {
    copy.state = 'ackSent';
    copy.chan = chan;
    copy.ackLife = chan.life;
    this.c.acksSent += 1;
  }

  requeued(copy: Copy): void {
    copy.state = 'queued';
    this.c.requeues += 1;
  }

  /** A round trip on `chan` completed after these acks were written: the broker has them. */
  acksProven(copies: Copy[], chan: ChanRef): void {
    for (const copy of copies) {
      if (copy.state !== 'ackSent' || copy.chan !== chan) continue;
      copy.state = 'ackProven';
      this.c.acksProven += 1;
    }
  }

  /**
   * A bind is about to be sent. AMQP orders nothing across connections: a publish the broker has not
   * processed yet (no confirm so far) may be routed through the new binding, so it may reach `q`.
   */
  bindStarted(q: QueueRec, b: Binding): void {
    for (const msg of this.pending) {
      if (!bindingMatches(b, msg.exchange, msg.key) || msg.copyIn(q.name) !== undefined) continue;
      msg.copies.push(new Copy(q, false));
      this.c.copiesRouted += 1;
      this.c.copiesInDoubt += 1;
    }
  }

  purgeStarted(q: QueueRec): void {
    q.purgeInFlight = true;
  }

  /** purge-ok arrived (or the broker died with the purge in flight): anything sent so far may be gone. */
  purgeDone(q: QueueRec): void {
    q.purgeInFlight = false;
    q.purgeSeq = this.nextSeq;
    q.purges += 1;
    this.c.purges += 1;
  }

  /** After a kill: every reply still outstanding may or may not have taken effect. */
  afterKill(): void {
    this.c.kills += 1;
    for (const q of this.queues.values()) if (q.purgeInFlight) this.purgeDone(q);
    for (const msg of [...this.pending]) this.recordConfirm(msg, 'unknown');
  }
}
