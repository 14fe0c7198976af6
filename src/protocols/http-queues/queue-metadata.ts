import type { QueueMetadata } from '../../core/classic-queue.js';
import { isJsonObject, type JsonObject } from './json-body.js';
import { queueApiDefaults, queueApiLimits } from './limits.js';
import { conflict, invalidBody } from './queue-api-error.js';

/**
 * A queue's metadata document: any JSON object, with reserved `_` keys Zaqar gives meaning to. Reads show
 * every reserved key, with its default where the stored value is missing or falsy (Zaqar's rule, so a
 * stored 0 or false reads as the default too). Updates are JSON-patch operations on /metadata/<key>.
 */

const RESERVED_DEFAULTS: ReadonlyArray<[string, unknown]> = [
  ['_max_messages_post_size', queueApiLimits.maxMessagesPostBytes],
  ['_default_message_ttl', queueApiDefaults.messageTtl],
  ['_default_message_delay', queueApiDefaults.messageDelay],
  ['_dead_letter_queue', null],
  ['_dead_letter_queue_messages_ttl', null],
  ['_max_claim_count', null],
  ['_enable_encrypt_messages', false],
];
const RESERVED_KEYS = new Set(RESERVED_DEFAULTS.map(([k]) => k));

/** The document as GET shows it: stored keys, then each reserved key whose stored value is falsy. */
export function withReservedDefaults(metadata: QueueMetadata): JsonObject {
  const shown: JsonObject = { ...metadata };
  for (const [key, value] of RESERVED_DEFAULTS) if (!shown[key]) shown[key] = value;
  return shown;
}

/** Python's isinstance(v, int): booleans are integers too. */
const isInt = (v: unknown): boolean =>
  typeof v === 'boolean' || (typeof v === 'number' && Number.isInteger(v));

/** Zaqar's checks of the reserved keys' types and ranges (PUT and PATCH). Returns the message, or undefined. */
export function metadataProblem(metadata: JsonObject): string | undefined {
  const ttl = metadata._default_message_ttl;
  if (ttl && !isInt(ttl)) return '_default_message_ttl must be integer.';
  if (ttl !== undefined && ttl !== null) {
    if (!inRange(ttl, queueApiLimits.minMessageTtl, queueApiLimits.maxMessageTtl)) {
      return `_default_message_ttl can not exceed ${queueApiLimits.maxMessageTtl} seconds, and must be at least ${queueApiLimits.minMessageTtl} seconds long.`;
    }
  }
  const postSize = metadata._max_messages_post_size;
  if (postSize && !isInt(postSize)) return '_max_messages_post_size must be integer.';
  if (postSize !== undefined && postSize !== null) {
    if (!inRange(postSize, 1, queueApiLimits.maxMessagesPostBytes)) {
      return `_max_messages_post_size can not exceed ${queueApiLimits.maxMessagesPostBytes},  and must be at least greater than 0.`;
    }
  }
  const claimCount = metadata._max_claim_count;
  if (claimCount && !isInt(claimCount)) return '_max_claim_count must be integer.';
  const dlqTtl = metadata._dead_letter_queue_messages_ttl;
  if (dlqTtl && !isInt(dlqTtl)) return '_dead_letter_queue_messages_ttl must be integer.';
  if (dlqTtl !== undefined && dlqTtl !== null) {
    if (!inRange(dlqTtl, queueApiLimits.minMessageTtl, queueApiLimits.maxMessageTtl)) {
      return `The TTL for a message may not exceed ${queueApiLimits.maxMessageTtl} seconds, and must be at least ${queueApiLimits.minMessageTtl} seconds long.`;
    }
  }
  const delay = metadata._default_message_delay;
  if (delay && !isInt(delay)) return '_default_message_delay must be integer.';
  if (delay !== undefined && delay !== null) {
    if (!inRange(delay, 0, queueApiLimits.maxMessageDelay)) {
      return `The TTL can not exceed ${queueApiLimits.maxMessageDelay} seconds, and must be at least 0 seconds long.`;
    }
  }
  const encrypt = metadata._enable_encrypt_messages;
  if (encrypt && typeof encrypt !== 'boolean') return '_enable_encrypt_messages must be boolean.';
  return undefined;
}

/** Python compares booleans as 0 and 1, and refuses other types in a range check (a TypeError: refused here). */
function inRange(value: unknown, min: number, max: number): boolean {
  const n = typeof value === 'boolean' ? Number(value) : value;
  return typeof n === 'number' && n >= min && n <= max;
}

// ---- PATCH (application/openstack-messaging-v2.0-json-patch) ----------------------------------------------

export const PATCH_CONTENT_TYPE = 'application/openstack-messaging-v2.0-json-patch';
const OPERATIONS = ['add', 'remove', 'replace'];

export interface MetadataChange {
  op: 'add' | 'remove' | 'replace';
  key: string;
  value?: unknown;
}

/** Checks a patch document the way Zaqar does, in its order; returns the changes it asks for. */
export function parsePatch(document: unknown): MetadataChange[] {
  if (!Array.isArray(document)) throw invalidBody('Document type not supported.');
  return document.map((raw): MetadataChange => {
    if (!isJsonObject(raw)) throw invalidBody('Operations must be JSON objects.');
    const op = raw.op;
    if (op === undefined || op === null) {
      throw invalidBody(
        `Unable to find \`op\` in JSON Schema change. It must be one of the following: ${OPERATIONS.join(', ')}.`,
      );
    }
    if (typeof op !== 'string' || !OPERATIONS.includes(op)) {
      throw invalidBody(
        `Invalid operation: \`${String(op)}\`. It must be one of the following: ${OPERATIONS.join(', ')}.`,
      );
    }
    if (!('path' in raw)) throw invalidBody("Unable to find 'path' in JSON Schema change");
    if (typeof raw.path !== 'string') throw invalidBody('Document type not supported.');
    const path = decodePointer(raw.path);
    if (path.length !== 2) {
      throw invalidBody(`Invalid JSON pointer for this resource: '/${path.join('/')}, e.g /metadata/key'`);
    }
    const change: MetadataChange = { op: op as MetadataChange['op'], key: path[1] };
    if (op !== 'remove') {
      if (!('value' in raw)) throw invalidBody(`Operation "${op}" requires a member named "value".`);
      change.value = raw.value;
      if (path[0].toLowerCase() !== 'metadata') {
        throw invalidBody('The root of path must be metadata, e.g /metadata/key.');
      }
    }
    return change;
  });
}

/** Zaqar's restricted JSON pointer: "/a/b" with ~0 and ~1 escapes, parts trimmed. */
function decodePointer(pointer: string): string[] {
  if (!pointer.startsWith('/')) throw invalidBody(`Pointer \`${pointer}\` does not start with "/".`);
  if (/\/\s*?\//.test(pointer.slice(1))) throw invalidBody(`Pointer \`${pointer}\` contains adjacent "/".`);
  if (pointer.length > 1 && pointer.endsWith('/')) throw invalidBody(`Pointer \`${pointer}\` end with "/".`);
  if (pointer.slice(1).trim() === '/') {
    throw invalidBody(`Pointer \`${pointer}\` does not contains valid token.`);
  }
  if (/~[^01]/.test(pointer) || pointer.endsWith('~')) {
    throw invalidBody(`Pointer \`${pointer}\` contains "~" not part of a recognized escape sequence.`);
  }
  return pointer
    .replace(/^\/+/, '')
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~').trim());
}

/** Applies changes to a copy of the metadata; a replace or remove of a missing key is a 409. */
export function applyPatch(metadata: QueueMetadata, changes: MetadataChange[]): JsonObject {
  const next: JsonObject = { ...metadata };
  for (const change of changes) {
    if (change.op === 'add') next[change.key] = change.value;
    else if (change.op === 'replace') {
      if (!(change.key in next) && !RESERVED_KEYS.has(change.key)) {
        throw conflict(`Can't replace non-existent object ${change.key}.`);
      }
      next[change.key] = change.value;
    } else if (change.key in next) delete next[change.key];
    else if (!RESERVED_KEYS.has(change.key)) {
      throw conflict(`Can't remove non-existent object ${change.key}.`);
    }
  }
  return next;
}
