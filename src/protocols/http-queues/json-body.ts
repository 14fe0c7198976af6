import { invalidBody } from './queue-api-error.js';

/**
 * Request bodies as Zaqar reads them: a JSON object or array (anything else "could not be parsed"), strict
 * UTF-8, and integers within what the store keeps exactly. Zaqar refuses integers beyond 64 bits; JavaScript
 * numbers are exact only to 2^53, so we refuse those beyond that too rather than change a client's data.
 */

export type JsonObject = Record<string, unknown>;

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** A quick test before the exact scan: only a run of 16+ digits can be an integer beyond 2^53. */
const LONG_DIGIT_RUN = /\d{16}/;
/**
 * Deepest nesting of arrays and objects accepted. Zaqar's Python parser gives up near 1000 (with a 503);
 * ours must stay well inside what JSON.stringify can recurse through when the body is stored.
 */
export const MAX_JSON_DEPTH = 512;

/**
 * The parsed body. `raw` undefined means the request had no body at all (Zaqar: "can not be empty"); an empty
 * one (Content-Length: 0) does not parse.
 */
export function parseJsonBody(raw: Buffer | undefined): unknown {
  if (raw === undefined) throw invalidBody('Request body can not be empty');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw invalidBody('Request body could not be parsed.');
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw invalidBody('Request body could not be parsed.');
  }
  if (typeof document !== 'object' || document === null) {
    throw invalidBody('Request body could not be parsed.');
  }
  // Only a text this long can nest this deep; only a long digit run can be an inexact integer.
  if (text.length > MAX_JSON_DEPTH * 2 || LONG_DIGIT_RUN.test(text)) {
    const { depth, inexactInteger } = scan(text);
    if (depth > MAX_JSON_DEPTH) throw invalidBody('Request body could not be parsed.');
    if (inexactInteger) throw invalidBody('JSON contains integer that is too large.');
  }
  return document;
}

/**
 * The request's body bytes: undefined when it had none at all (no Content-Length, not chunked), an empty
 * buffer for Content-Length: 0 (fastify passes no body for that; Zaqar tells the two apart).
 */
export function requestBody(request: {
  body?: unknown;
  headers: Record<string, unknown>;
}): Buffer | undefined {
  if (Buffer.isBuffer(request.body)) return request.body;
  return request.headers['content-length'] === undefined ? undefined : Buffer.alloc(0);
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * One pass over valid JSON text, skipping string contents: the deepest nesting, and whether an integer
 * literal lies outside ±(2^53 - 1).
 */
function scan(text: string): { depth: number; inexactInteger: boolean } {
  let depth = 0;
  let deepest = 0;
  let inexactInteger = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
      i++;
    } else if (c === 0x5b || c === 0x7b) {
      deepest = Math.max(deepest, ++depth);
      i++;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
      i++;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let end = i + 1;
      while (end < text.length && /[0-9.eE+-]/.test(text[end])) end++;
      const token = text.slice(i, end);
      if (/^-?\d+$/.test(token) && !Number.isSafeInteger(Number(token))) inexactInteger = true;
      i = end;
    } else i++;
  }
  return { depth: deepest, inexactInteger };
}

/**
 * One typed field of a body object, as Zaqar's sanitizer checks it: absent takes the default (or is "Missing"
 * without one); present must be an integer. Like Python, true and false count as the integers 1 and 0.
 */
export function integerField(document: JsonObject, name: string, fallback: number | undefined): number {
  if (!(name in document)) {
    if (fallback === undefined) throw invalidBody(`Missing "${name}" field.`);
    return fallback;
  }
  const value = document[name];
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  throw invalidBody(`The value of the "${name}" field must be a int.`);
}
