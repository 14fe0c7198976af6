/**
 * Message bodies whose every byte is derived from the message id, so a delivery can be checked for
 * truncation or flipped bytes: `${id}|` followed by a filler pattern seeded from the id.
 */
import type { Rng } from './rng.js';

export const MIN_BODY_BYTES = 16;
export const MAX_BODY_BYTES = 8192;

function idHash(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function makeBody(id: string, size: number): Buffer {
  const head = Buffer.from(`${id}|`, 'latin1');
  const total = Math.max(size, head.length);
  const body = Buffer.allocUnsafe(total);
  head.copy(body);
  let x = idHash(id);
  for (let i = head.length; i < total; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    body[i] = 33 + ((x >>> 16) % 94);
  }
  return body;
}

/** The id a body claims to belong to (its text before the first '|'), or undefined if it has none. */
export function bodyId(body: Buffer): string | undefined {
  const bar = body.indexOf(0x7c);
  if (bar <= 0 || bar > 64) return undefined;
  return body.subarray(0, bar).toString('latin1');
}

/** True when `body` is exactly the body that was published for `id` with `size` bytes. */
export function bodyMatches(body: Buffer, id: string, size: number): boolean {
  return body.equals(makeBody(id, size));
}

/** Sizes from 16 B to 8 KiB: mostly small, a fifth medium, a tenth large. */
export function randomBodySize(rng: Rng): number {
  const roll = rng.next();
  if (roll < 0.7) return rng.int(MIN_BODY_BYTES, 512);
  if (roll < 0.9) return rng.int(513, 4096);
  return rng.int(4097, MAX_BODY_BYTES);
}
