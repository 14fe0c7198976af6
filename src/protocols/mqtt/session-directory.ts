import type { Logger } from 'pino';
import type { Broker } from '../../core/broker.js';
import { clientIdOfQueue, SESSION_NEVER_EXPIRES, sessionQueueName } from './mqtt-options.js';
import type { SessionStore } from './session-store.js';

/** What the directory needs from a live connection holding a session. */
export interface SessionHolder {
  /** Another connection claims the client id: end this one (MQTT 5: DISCONNECT 0x8E) and resolve once it is torn down. */
  takeOver(): Promise<void>;
}

const MAX_TIMER_MS = 0x7fffffff;

/**
 * Who holds which MQTT session: one live connection per (vhost, client id), later ones taking over from
 * earlier ones; connects of the same client id run one at a time. Also the clock of disconnected persistent
 * sessions: each expires (queue, bindings and records deleted) once its expiry interval has passed since its
 * connection ended, across restarts (the disconnection time is in its record).
 */
export class SessionDirectory {
  private readonly live = new Map<string, SessionHolder>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  private readonly delayedWills = new Map<string, NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly broker: Broker,
    private readonly sessions: SessionStore,
    private readonly logger: Logger,
  ) {}

  /**
   * Runs `connect` for a client id once every earlier connect of it has finished; the previous holder is taken
   * over first, a pending expiry or delayed will cancelled.
   */
  async claim<T>(
    vhost: string,
    clientId: string,
    holder: SessionHolder,
    connect: () => Promise<T>,
  ): Promise<T> {
    const key = keyOf(vhost, clientId);
    return this.withLock(key, async () => {
      const old = this.live.get(key);
      if (old && old !== holder) await old.takeOver();
      this.cancelTimers(key);
      this.live.set(key, holder);
      return connect();
    });
  }

  private async withLock<T>(key: string, run: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const chain = previous.then(() => mine);
    this.locks.set(key, chain);
    try {
      await previous;
      return await run();
    } finally {
      release();
      if (this.locks.get(key) === chain) this.locks.delete(key);
    }
  }

  /** The holder's connection ended (after its session was detached). */
  release(vhost: string, clientId: string, holder: SessionHolder): void {
    const key = keyOf(vhost, clientId);
    if (this.live.get(key) === holder) this.live.delete(key);
  }

  isLive(vhost: string, clientId: string): boolean {
    return this.live.has(keyOf(vhost, clientId));
  }

  /** A persistent session was left: it expires after `seconds` unless its client comes back. */
  scheduleExpiry(vhost: string, clientId: string, seconds: number): void {
    if (seconds === SESSION_NEVER_EXPIRES || this.closed) return;
    this.armExpiry(keyOf(vhost, clientId), vhost, clientId, seconds * 1000);
  }

  /** A will to publish after its delay unless the client comes back first (MQTT 5 will delay). */
  scheduleWill(vhost: string, clientId: string, delayMs: number, publish: () => void): void {
    if (this.closed) return;
    const key = keyOf(vhost, clientId);
    clearTimeout(this.delayedWills.get(key));
    const timer = setTimeout(
      () => {
        this.delayedWills.delete(key);
        publish();
      },
      Math.min(delayMs, MAX_TIMER_MS),
    );
    timer.unref();
    this.delayedWills.set(key, timer);
  }

  /**
   * At start: arms the expiry of every stored session (one still marked connected was cut off by a crash: its
   * clock starts now), expires the overdue ones, and gives a record to session queues that lack one.
   */
  async recover(maxExpirySeconds: number): Promise<void> {
    const now = Date.now();
    for (const vhostName of this.broker.vhostNames()) {
      const vhost = this.broker.vhost(vhostName);
      if (!vhost) continue;
      const known = new Set<string>();
      for (const [clientId, record] of this.sessions.all(vhostName)) {
        known.add(clientId);
        const since = record.disconnectedAt ?? now;
        if (record.disconnectedAt === undefined) {
          await this.sessions.put(vhostName, clientId, { ...record, disconnectedAt: now });
        }
        if (record.expirySeconds === SESSION_NEVER_EXPIRES) continue;
        this.armExpiry(
          keyOf(vhostName, clientId),
          vhostName,
          clientId,
          since + record.expirySeconds * 1000 - now,
        );
      }
      for (const queue of [...vhost.allQueues()]) {
        const clientId = clientIdOfQueue(queue.name);
        if (clientId === undefined || known.has(clientId) || !queue.durable) continue;
        await this.sessions.put(vhostName, clientId, {
          expirySeconds: maxExpirySeconds,
          disconnectedAt: now,
        });
        this.scheduleExpiry(vhostName, clientId, maxExpirySeconds);
      }
    }
  }

  /** Shutdown: no timers fire any more (disconnection times are on disk for the next start). */
  close(): void {
    this.closed = true;
    for (const timer of this.expiryTimers.values()) clearTimeout(timer);
    for (const timer of this.delayedWills.values()) clearTimeout(timer);
    this.expiryTimers.clear();
    this.delayedWills.clear();
  }

  private cancelTimers(key: string): void {
    clearTimeout(this.expiryTimers.get(key));
    this.expiryTimers.delete(key);
    clearTimeout(this.delayedWills.get(key));
    this.delayedWills.delete(key);
  }

  private armExpiry(key: string, vhost: string, clientId: string, delayMs: number): void {
    clearTimeout(this.expiryTimers.get(key));
    const wait = Math.max(0, delayMs);
    const timer = setTimeout(
      () => {
        if (wait > MAX_TIMER_MS) {
          this.armExpiry(key, vhost, clientId, wait - MAX_TIMER_MS);
          return;
        }
        this.expiryTimers.delete(key);
        void this.expire(vhost, clientId);
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    timer.unref();
    this.expiryTimers.set(key, timer);
  }

  /** Deletes an expired session, unless its client came back meanwhile. */
  private async expire(vhostName: string, clientId: string): Promise<void> {
    const key = keyOf(vhostName, clientId);
    try {
      await this.withLock(key, async () => {
        if (this.live.has(key) || this.closed) return;
        const vhost = this.broker.vhost(vhostName);
        if (vhost) await vhost.deleteQueue(sessionQueueName(clientId), { owner: this });
        await this.sessions.delete(vhostName, clientId);
        this.logger.info({ vhost: vhostName, clientId }, 'MQTT session expired');
      });
    } catch (err) {
      this.logger.error({ err, vhost: vhostName, clientId }, 'expiring an MQTT session failed');
    }
  }
}

function keyOf(vhost: string, clientId: string): string {
  return `${vhost}\u0000${clientId}`;
}
