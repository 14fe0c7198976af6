import { QueueApiError } from './queue-api-error.js';

/**
 * Query parameters read the way Zaqar's web framework (falcon) reads them: blank values count as absent, a
 * repeated parameter takes its last value, lists are comma separated, booleans are true/false words.
 */
export type Query = Record<string, string | string[] | undefined>;

const TRUE_WORDS = new Set(['true', 'True', 't', 'yes', 'y', '1', 'on']);
const FALSE_WORDS = new Set(['false', 'False', 'f', 'no', 'n', '0', 'off']);
/** Python's int() accepts surrounding blanks and a sign. */
const INTEGER = /^\s*[+-]?\d+\s*$/;

const invalidParameter = (description: string) => new QueueApiError(400, 'Invalid parameter', description);

function values(query: Query, name: string): string[] {
  const v = query[name];
  const all = v === undefined ? [] : Array.isArray(v) ? v : [v];
  return all.filter((s) => s.length > 0);
}

export function stringParam(query: Query, name: string): string | undefined {
  const all = values(query, name);
  if (all.length === 0) return undefined;
  const parts = all[all.length - 1].split(',');
  return parts[parts.length - 1];
}

export function intParam(query: Query, name: string): number | undefined {
  const text = stringParam(query, name);
  if (text === undefined) return undefined;
  if (!INTEGER.test(text)) {
    throw invalidParameter(`The "${name}" parameter is invalid. The value must be an integer.`);
  }
  return Number(text.trim());
}

export function boolParam(query: Query, name: string): boolean | undefined {
  const text = stringParam(query, name);
  if (text === undefined) return undefined;
  if (TRUE_WORDS.has(text)) return true;
  if (FALSE_WORDS.has(text)) return false;
  throw invalidParameter(
    `The "${name}" parameter is invalid. The value of the parameter must be "true" or "false".`,
  );
}

/** A comma-separated list parameter; undefined when absent. */
export function listParam(query: Query, name: string): string[] | undefined {
  const all = values(query, name);
  if (all.length === 0) return undefined;
  return all.flatMap((s) => s.split(',')).filter((s) => s.length > 0);
}

/** A query string in the parameters' given order, as Zaqar writes its "next" links (true/false as words). */
export function queryString(params: Array<[string, string | number | boolean]>): string {
  if (params.length === 0) return '';
  return `?${params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`).join('&')}`;
}
