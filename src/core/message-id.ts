import { crc32c } from '../store/crc32c.js';

/**
 * Public ids of queued messages (the HTTP queue API names messages by them): 24 hex digits, a tag of the
 * queue's store id then the log offset. Both never change, so an id survives restarts and is never reused:
 * offsets only grow, and a queue deleted and declared again gets a new store id (so a new tag).
 */
const TAG_DIGITS = 8;
const OFFSET_DIGITS = 16;
const ID_PATTERN = /^[0-9a-f]{24}$/;

function queueTag(queueId: string): string {
  return (crc32c(Buffer.from(queueId, 'utf8')) >>> 0).toString(16).padStart(TAG_DIGITS, '0');
}

export function messageIdOf(queueId: string, offset: number): string {
  return queueTag(queueId) + offset.toString(16).padStart(OFFSET_DIGITS, '0');
}

/** The offset an id names in this queue; undefined for a malformed id or one of another queue. */
export function offsetOfMessageId(queueId: string, id: string): number | undefined {
  if (!ID_PATTERN.test(id) || id.slice(0, TAG_DIGITS) !== queueTag(queueId)) return undefined;
  const offset = Number.parseInt(id.slice(TAG_DIGITS), 16);
  return Number.isSafeInteger(offset) ? offset : undefined;
}
