import { randomUUID } from 'node:crypto';
import type { ClassicQueue, GetResult } from './classic-queue.js';

/**
 * Claims: leases on a classic queue's messages, as OpenStack Zaqar defines them. A claim is the owner of the
 * unacked entries it took, each with the claim's expiry as its lease deadline, so when a claim runs out (or
 * is released) core puts its messages back in the ready queue like any other holder's; deleting a claimed
 * message is an ack by the claim.
 *
 * Times follow Zaqar's arithmetic exactly, in whole seconds (Zaqar truncates "now" to the second):
 * - a claim made or renewed at second `now` with `ttl` expires at `now + ttl`;
 * - grace: a claimed message that would expire before that (strictly before on create, at or before on
 *   renew) is kept alive until `now + ttl + grace`, and then reports `ttl + grace` as its TTL;
 * - a claim's age is the seconds since it was made or last renewed.
 */

export interface ClaimTerms {
  ttlSeconds: number;
  graceSeconds: number;
}

/**
 * Zaqar's dead-letter queues: a message already claimed `maxClaims` times is not claimed again but moved
 * (`moveAway` stores its copy elsewhere and resolves once that copy is safe; then it leaves this queue).
 */
export interface ClaimLimit {
  maxClaims: number;
  moveAway(taken: GetResult): Promise<void>;
}

export class Claim {
  constructor(
    readonly id: string,
    public ttlSeconds: number,
    /** Whole epoch seconds when the claim expires. */
    public expiresAtSeconds: number,
  ) {}

  isLive(nowMs: number): boolean {
    return Math.floor(nowMs / 1000) < this.expiresAtSeconds;
  }

  /** Seconds since the claim was made or last renewed. */
  ageSeconds(nowMs: number): number {
    return Math.floor(nowMs / 1000) - (this.expiresAtSeconds - this.ttlSeconds);
  }
}

/** Claims saved at shutdown (metadata store JSON): held offsets with their expiry, and the TTLs grace set. */
export interface SavedClaim {
  id: string;
  ttl: number;
  /** Whole epoch seconds. */
  expires: number;
  held: Array<[offset: number, expiresAt: number]>;
}

export interface SavedClaims {
  claims: SavedClaim[];
  graceTtls: Array<[offset: number, ttlSeconds: number, expiresAt: number]>;
}

/** Expired claims are swept when the table has doubled since the last sweep (amortised, no timer). */
const MIN_SWEEP_SIZE = 64;

export class QueueClaims {
  private readonly claims = new Map<string, Claim>();
  private sweepAt = MIN_SWEEP_SIZE;
  /** TTLs set by a claim's grace, valid while the message still has the expiry that grace gave it. */
  private readonly graceTtls = new Map<number, { ttlSeconds: number; expiresAt: number }>();

  constructor(private readonly queue: ClassicQueue) {}

  /**
   * Claims up to `limit` ready messages, oldest first. Returns undefined (and keeps no claim) when there was
   * nothing to claim.
   */
  async create(
    terms: ClaimTerms,
    limit: number,
    nowMs = Date.now(),
    claimLimit?: ClaimLimit,
  ): Promise<{ claim: Claim; messages: GetResult[] } | undefined> {
    const nowSeconds = Math.floor(nowMs / 1000);
    const claim = new Claim(randomUUID(), terms.ttlSeconds, nowSeconds + terms.ttlSeconds);
    const leaseMs = leaseLeft(claim);
    let messages: GetResult[] = [];
    while (messages.length < limit) {
      const taken = await this.queue.get(false, claim, leaseMs);
      if (taken === null) break;
      messages.push(taken);
    }
    if (claimLimit !== undefined) messages = await this.moveOverClaimed(claim, messages, claimLimit);
    if (messages.length === 0) return undefined;
    this.remember(claim, nowMs);
    for (const m of messages) this.applyGrace(claim, m.offset, terms.graceSeconds, false);
    return { claim, messages };
  }

  /**
   * Moves away the messages claimed too often (as Zaqar, only at the claim that would exceed the limit: every
   * earlier claim that ended without a delete counts). Returns the ones that stay claimed.
   */
  private async moveOverClaimed(claim: Claim, taken: GetResult[], limit: ClaimLimit): Promise<GetResult[]> {
    const kept: GetResult[] = [];
    for (const m of taken) {
      if (m.deliveryCount < limit.maxClaims) {
        kept.push(m);
        continue;
      }
      try {
        await limit.moveAway(m);
      } catch (err) {
        this.queue.releaseOwner(claim); // nothing is lost: the claim's messages go back
        throw err;
      }
      this.queue.ack(m.offset);
      this.forgetMessage(m.offset);
    }
    return kept;
  }

  /** A live claim by id; undefined when unknown or expired. */
  find(id: string, nowMs = Date.now()): Claim | undefined {
    const claim = this.claims.get(id);
    if (claim === undefined) return undefined;
    if (claim.isLive(nowMs)) return claim;
    this.claims.delete(id);
    return undefined;
  }

  /** Offsets the claim still holds (deleted ones are gone), ascending. */
  offsetsOf(claim: Claim): number[] {
    return this.queue.heldBy(claim);
  }

  /** Renews a live claim from now with new terms (Zaqar's PATCH). */
  renew(claim: Claim, terms: ClaimTerms, nowMs = Date.now()): void {
    claim.ttlSeconds = terms.ttlSeconds;
    claim.expiresAtSeconds = Math.floor(nowMs / 1000) + terms.ttlSeconds;
    const leaseMs = leaseLeft(claim);
    for (const offset of this.queue.heldBy(claim)) {
      this.queue.renewLease(offset, leaseMs, claim);
      this.applyGrace(claim, offset, terms.graceSeconds, true);
    }
  }

  /** Ends a claim: its messages go back to the queue at once. */
  release(claim: Claim): void {
    this.claims.delete(claim.id);
    this.queue.releaseOwner(claim);
  }

  /**
   * The TTL to report for a message: the one a claim's grace gave it while that still holds, else its own
   * (expiry minus publish time); -1 for a message that never expires.
   */
  ttlSecondsOf(offset: number, expiresAt: number, publishedAt: number): number {
    const graced = this.graceTtls.get(offset);
    if (graced !== undefined) {
      if (graced.expiresAt === expiresAt) return graced.ttlSeconds;
      this.graceTtls.delete(offset);
    }
    if (expiresAt === 0) return -1;
    return Math.max(0, Math.round((expiresAt - publishedAt) / 1000));
  }

  /** The message at offset is gone: forget what grace set for it. */
  forgetMessage(offset: number): void {
    this.graceTtls.delete(offset);
  }

  /** The live claims and what grace set, as plain data to keep across a graceful restart. */
  snapshot(nowMs = Date.now()): SavedClaims {
    const claims: SavedClaim[] = [];
    for (const claim of this.claims.values()) {
      if (!claim.isLive(nowMs)) continue;
      const held = this.queue
        .heldBy(claim)
        .map((offset): [number, number] => [offset, this.queue.locate(offset)?.expiresAt ?? 0]);
      if (held.length > 0)
        claims.push({ id: claim.id, ttl: claim.ttlSeconds, expires: claim.expiresAtSeconds, held });
    }
    const graceTtls: Array<[number, number, number]> = [];
    for (const [offset, g] of this.graceTtls) graceTtls.push([offset, g.ttlSeconds, g.expiresAt]);
    return { claims, graceTtls };
  }

  /** Takes saved claims back (after the queue recovered): each live one holds its messages again. */
  restore(saved: SavedClaims, nowMs = Date.now()): void {
    for (const [offset, ttlSeconds, expiresAt] of saved.graceTtls)
      this.graceTtls.set(offset, { ttlSeconds, expiresAt });
    for (const s of saved.claims) {
      const claim = new Claim(s.id, s.ttl, s.expires);
      if (!claim.isLive(nowMs)) continue;
      let holds = 0;
      for (const [offset, expiresAt] of s.held) {
        if (this.queue.holdReady(offset, claim, leaseLeft(claim), expiresAt)) holds++;
      }
      if (holds > 0) this.claims.set(claim.id, claim);
    }
  }

  private applyGrace(claim: Claim, offset: number, graceSeconds: number, renewing: boolean): void {
    const held = this.queue.locate(offset);
    if (held === undefined || held.expiresAt === 0) return;
    const claimExpiresMs = claim.expiresAtSeconds * 1000;
    const messageExpiresMs = Math.floor(held.expiresAt / 1000) * 1000;
    const wouldExpire = renewing ? messageExpiresMs <= claimExpiresMs : messageExpiresMs < claimExpiresMs;
    if (!wouldExpire) return;
    const expiresAt = claimExpiresMs + graceSeconds * 1000;
    if (!this.queue.setHeldExpiry(offset, claim, expiresAt)) return;
    this.graceTtls.set(offset, { ttlSeconds: claim.ttlSeconds + graceSeconds, expiresAt });
  }

  private remember(claim: Claim, nowMs: number): void {
    if (this.claims.size >= this.sweepAt) {
      for (const [id, c] of this.claims) if (!c.isLive(nowMs)) this.claims.delete(id);
      for (const offset of this.graceTtls.keys()) {
        if (this.queue.locate(offset) === undefined) this.graceTtls.delete(offset);
      }
      this.sweepAt = Math.max(MIN_SWEEP_SIZE, this.claims.size * 2);
    }
    this.claims.set(claim.id, claim);
  }
}

/** Leases run on the real clock, whatever clock the claim's arithmetic was given. */
function leaseLeft(claim: Claim): number {
  return Math.max(1, claim.expiresAtSeconds * 1000 - Date.now());
}

const byQueue = new WeakMap<ClassicQueue, QueueClaims>();

/** The claims of a queue (made on first use; they go with the queue object). */
export function claimsOf(queue: ClassicQueue): QueueClaims {
  let claims = byQueue.get(queue);
  if (claims === undefined) {
    claims = new QueueClaims(queue);
    byQueue.set(queue, claims);
  }
  return claims;
}
