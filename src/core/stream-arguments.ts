import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { TypedFieldValue } from '../codec/field-table.js';
import { preconditionFailed } from './errors.js';

/** What a stream honours of its declare arguments (or policy), validated once at declare time. */
export interface StreamSettings {
  /** Retention by age in ms; 0: none. */
  maxAgeMs: number;
  /** Retention by total size in bytes; 0: none. */
  maxLengthBytes: number;
  /** Segment file size (x-stream-max-segment-size-bytes); RabbitMQ's default is 500 MB. */
  segmentMaxBytes: number;
  /** EventterMQ's audit-trail guard: no deleting the stream while it holds messages within retention. */
  appendOnly: boolean;
}

export const DEFAULT_STREAM_SEGMENT_BYTES = 500_000_000;
const MIN_STREAM_SEGMENT_BYTES = 4096;

/** Arguments a stream accepts; any other x- argument is refused as RabbitMQ refuses it. */
const streamArguments = new Set([
  'x-queue-type',
  'x-max-age',
  'x-max-length-bytes',
  'x-stream-max-segment-size-bytes',
  'x-initial-cluster-size',
  'x-queue-leader-locator',
  'x-stream-append-only',
]);

const AGE_UNIT_MS: Record<string, number> = {
  Y: 365 * 24 * 3600_000,
  M: 30 * 24 * 3600_000,
  D: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
};

function numeric(v: FieldValue | undefined): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof TypedFieldValue && (typeof v.value === 'number' || typeof v.value === 'bigint'))
    return Number(v.value);
  return undefined;
}

function text(v: FieldValue | undefined): string | undefined {
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}

/** RabbitMQ's x-max-age: a positive integer and one unit of Y M D h m s, e.g. "7D"; null when malformed. */
export function parseMaxAge(value: string): number | null {
  const m = /^(\d+)([YMDhms])$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 ? n * AGE_UNIT_MS[m[2]] : null;
}

export function isStreamDeclare(args: FieldTable): boolean {
  return text(args['x-queue-type']) === 'stream';
}

export function parseStreamArguments(args: FieldTable, describe: string): StreamSettings {
  for (const key of Object.keys(args)) {
    if (key.startsWith('x-') && !streamArguments.has(key)) {
      throw preconditionFailed(`invalid arg '${key}' for ${describe} of queue type rabbit_stream_queue`);
    }
  }
  const invalid = (key: string) => preconditionFailed(`invalid arg '${key}' for ${describe}`);
  let maxAgeMs = 0;
  if (args['x-max-age'] !== undefined) {
    const age = text(args['x-max-age']);
    const ms = age === undefined ? null : parseMaxAge(age);
    if (ms === null) throw invalid('x-max-age');
    maxAgeMs = ms;
  }
  const positive = (key: string, fallback: number, min = 0): number => {
    if (args[key] === undefined) return fallback;
    const n = numeric(args[key]);
    if (n === undefined || !Number.isSafeInteger(n) || n < 0) throw invalid(key);
    return Math.max(n, min);
  };
  return {
    maxAgeMs,
    maxLengthBytes: positive('x-max-length-bytes', 0),
    segmentMaxBytes: positive(
      'x-stream-max-segment-size-bytes',
      DEFAULT_STREAM_SEGMENT_BYTES,
      MIN_STREAM_SEGMENT_BYTES,
    ),
    appendOnly: args['x-stream-append-only'] === true,
  };
}

/** Where a new stream consumer starts (basic.consume argument x-stream-offset). */
export type StreamStart =
  | { kind: 'first' }
  | { kind: 'last' }
  | { kind: 'next' }
  | { kind: 'offset'; offset: number }
  | { kind: 'time'; timestamp: number };

/** Parses x-stream-offset; `now` turns an interval such as "1h" into a time. Default: next. */
export function parseStreamStart(value: FieldValue | undefined, now: number): StreamStart {
  if (value === undefined) return { kind: 'next' };
  if (value instanceof TypedFieldValue && value.type === 'timestamp') {
    return { kind: 'time', timestamp: Number(value.value) * 1000 };
  }
  const n = numeric(value);
  if (n !== undefined) {
    if (!Number.isSafeInteger(n)) throw preconditionFailed(`invalid x-stream-offset: ${String(n)}`);
    return n < 0 ? { kind: 'first' } : { kind: 'offset', offset: n };
  }
  const s = text(value);
  if (s === 'first' || s === 'last' || s === 'next') return { kind: s };
  if (s !== undefined) {
    const ms = parseMaxAge(s);
    if (ms !== null) return { kind: 'time', timestamp: now - ms };
  }
  throw preconditionFailed(`invalid x-stream-offset: ${s ?? typeof value}`);
}
