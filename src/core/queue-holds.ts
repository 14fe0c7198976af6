import type { ClassicQueue } from './classic-queue.js';
import { claimsOf, type SavedClaims } from './queue-claims.js';

/**
 * What a graceful shutdown keeps of a classic queue's in-memory holds, beyond its log: live claims (with the
 * expiries their grace set) and delayed messages' due times. Recovery puts them back; after a crash they
 * are simply gone, and their messages are ready at once (delivered again, or early, never lost).
 */
export interface SavedHolds {
  claims: SavedClaims;
  /** [offset, notBefore (epoch ms)] */
  delays: Array<[number, number]>;
}

/** The holds worth saving, or undefined when there are none. */
export function savedHoldsOf(queue: ClassicQueue): SavedHolds | undefined {
  const claims = claimsOf(queue).snapshot();
  const delays = queue.delayedSnapshot();
  if (claims.claims.length === 0 && claims.graceTtls.length === 0 && delays.length === 0) return undefined;
  return { claims, delays };
}

/** Puts saved holds back on a queue that has just recovered its log. */
export function restoreHolds(queue: ClassicQueue, saved: SavedHolds): void {
  for (const [offset, notBefore] of saved.delays) queue.delayReady(offset, notBefore);
  claimsOf(queue).restore(saved.claims);
}
