import { isPlainObject } from './definitions-format.js';

/**
 * Reading one item of a definitions file: each field check reports a problem naming the item (collected,
 * so one pass lists everything wrong with a file) and yields undefined instead of throwing.
 */

/** Problems listed in full; beyond this an import of a broken file says how many more there are. */
const MAX_LISTED_PROBLEMS = 100;

export class ProblemList {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  private unlisted = 0;

  add(text: string): void {
    if (this.problems.length < MAX_LISTED_PROBLEMS) this.problems.push(text);
    else this.unlisted++;
  }

  warn(text: string): void {
    this.warnings.push(text);
  }

  /** The problems, with a last line counting the ones not listed. */
  all(): string[] {
    return this.unlisted === 0 ? this.problems : [...this.problems, `... and ${this.unlisted} more problems`];
  }
}

/** A name as error messages show it: quoted, cut short when long. */
export function quote(name: string): string {
  return `'${name.length > 80 ? `${name.slice(0, 80)}...` : name}'`;
}

export class ItemReader {
  constructor(
    private readonly item: Record<string, unknown>,
    /** Names the item in problems, e.g. "queue 'orders' in vhost 'shop'". */
    public where: string,
    private readonly problems: ProblemList,
  ) {}

  fail(text: string): undefined {
    this.problems.add(`${this.where}: ${text}`);
    return undefined;
  }

  /** A problem whose text already names the item (the queue argument parsers' messages do). */
  failNamed(text: string): undefined {
    this.problems.add(text);
    return undefined;
  }

  has(key: string): boolean {
    return this.item[key] !== undefined;
  }

  raw(key: string): unknown {
    return this.item[key];
  }

  /** A string field; `maxBytes` bounds its UTF-8 length, `nonEmpty` refuses "". */
  text(
    key: string,
    opts: { fallback?: string; maxBytes?: number; nonEmpty?: boolean } = {},
  ): string | undefined {
    const value = this.item[key];
    if (value === undefined && opts.fallback !== undefined) return opts.fallback;
    if (value === undefined) return this.fail(`${key} is missing`);
    if (typeof value !== 'string') return this.fail(`${key} must be a string, not ${describeJson(value)}`);
    if (opts.nonEmpty && value.length === 0) return this.fail(`${key} must not be empty`);
    if (opts.maxBytes !== undefined && Buffer.byteLength(value) > opts.maxBytes)
      return this.fail(`${key} is longer than ${opts.maxBytes} bytes`);
    if (value.includes('\u0000')) return this.fail(`${key} must not contain NUL characters`);
    return value;
  }

  flag(key: string, fallback: boolean): boolean | undefined {
    const value = this.item[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'boolean')
      return this.fail(`${key} must be true or false, not ${describeJson(value)}`);
    return value;
  }
}

/** Reads one item: objects get a reader; anything else is a problem naming its place in the list. */
export function itemAt(
  list: unknown[],
  index: number,
  category: string,
  problems: ProblemList,
): ItemReader | undefined {
  const item = list[index];
  if (!isPlainObject(item)) {
    problems.add(`${category}[${index}] must be a JSON object, not ${describeJson(item)}`);
    return undefined;
  }
  return new ItemReader(item, `${category}[${index}]`, problems);
}

export function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Limits objects (vhost-limits, user limits): integers; RabbitMQ's negative values mean "no limit". */
export function readLimits(
  value: unknown,
  allowed: readonly string[],
  fail: (text: string) => undefined,
): Record<string, number> | undefined {
  // rabbitmqctl 3.10 writes an empty limits object as [] (an empty Erlang proplist).
  if (Array.isArray(value) && value.length === 0) return {};
  if (!isPlainObject(value)) return fail(`limits must be a JSON object, not ${describeJson(value)}`);
  const out: Record<string, number> = {};
  for (const [key, limit] of Object.entries(value)) {
    if (!allowed.includes(key))
      return fail(`unknown limit ${quote(key)} (EventterMQ knows ${allowed.join(', ')})`);
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit))
      return fail(`limit ${quote(key)} must be an integer, not ${describeJson(limit)}`);
    if (limit >= 0) out[key] = limit;
  }
  return out;
}
