import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { TypedFieldValue } from '../codec/field-table.js';
import { preconditionFailed } from './errors.js';
import { checkArgumentsEquivalent, describeValue, typeName } from './queue-arguments.js';

/** What a stream honours of its declare arguments (or policy), validated once at declare time. */
export interface StreamSettings {
  /** Retention by age in ms; 0: none. */
  maxAgeMs: number;
  /** Retention by total size in bytes; 0: none. */
  maxLengthBytes: number;
  /** Segment file size (x-stream-max-segment-size-bytes); RabbitMQ's default is 500 MB. */
  segmentMaxBytes: number;
  /** EventterMQ's audit-trail guard (x-stream-append-only): the stream cannot be deleted while it holds messages. */
  appendOnly: boolean;
}

export const DEFAULT_STREAM_SEGMENT_BYTES = 500_000_000;
const MAX_STREAM_SEGMENT_BYTES = 3_000_000_000;
/** Smaller segments are allowed (RabbitMQ's tests use 500 B); the log still needs room for one record. */
const MIN_STREAM_SEGMENT_BYTES = 256;

/** Queue arguments RabbitMQ refuses on a stream; other unknown x- arguments are accepted and ignored. */
const refusedOnStreams = new Set([
  'x-max-length',
  'x-message-ttl',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-dead-letter-strategy',
  'x-max-priority',
  'x-expires',
  'x-overflow',
  'x-single-active-consumer',
  'x-delivery-limit',
  'x-queue-mode',
  'x-queue-master-locator',
  'x-quorum-initial-group-size',
  'x-max-in-memory-length',
  'x-max-in-memory-bytes',
]);

/** Compared on redeclare, besides the queue type (RabbitMQ ignores the rest). */
const streamEquivalenceChecked = ['x-max-age', 'x-max-length-bytes', 'x-stream-max-segment-size-bytes'];

const AGE_UNIT_MS: Record<string, number> = {
  Y: 365 * 24 * 3600_000,
  M: 30 * 24 * 3600_000,
  D: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
};

const integerTypes = new Set([
  'byte',
  'unsigned-byte',
  'short',
  'unsigned-short',
  'int',
  'unsigned-int',
  'long',
  'unsigned-long',
]);

/** The value of an AMQP integer field (any width), or undefined for anything else (doubles included). */
function integerValue(v: FieldValue | undefined): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof TypedFieldValue && integerTypes.has(v.type)) return Number(v.value);
  return undefined;
}

function text(v: FieldValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** RabbitMQ's duration syntax: digits and one unit of Y M D h m s, e.g. "7D"; null when malformed or zero. */
export function parseDuration(value: string): number | null {
  const m = /^(\d+)([YMDhms])$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  return n > 0 ? n * AGE_UNIT_MS[m[2]] : null;
}

/** Keys a policy may set on a stream; what a policy says of other keys does not apply to streams. */
const policyKeysForStreams = ['x-max-age', 'x-max-length-bytes', 'x-stream-max-segment-size-bytes'];

/** The stream's declared arguments with the policy's stream keys applied (`effective` = with the policy). */
export function streamArgumentsWithPolicy(declared: FieldTable, effective: FieldTable): FieldTable {
  const out: FieldTable = { ...declared };
  for (const key of policyKeysForStreams) if (effective[key] !== undefined) out[key] = effective[key];
  return out;
}

export function isStreamDeclare(args: FieldTable): boolean {
  return text(args['x-queue-type']) === 'stream';
}

export function parseStreamArguments(args: FieldTable, describe: string): StreamSettings {
  for (const key of Object.keys(args)) {
    if (refusedOnStreams.has(key)) {
      throw preconditionFailed(`invalid arg '${key}' for ${describe} of queue type rabbit_stream_queue`);
    }
  }
  const invalid = (key: string, why: string) =>
    preconditionFailed(`invalid arg '${key}' for ${describe}: ${why}`);
  const integer = (key: string, min: number): number | undefined => {
    const raw = args[key];
    if (raw === undefined) return undefined;
    const n = integerValue(raw);
    if (n === undefined) throw invalid(key, `"expected integer, got ${typeName(raw)}"`);
    if (n < min) throw invalid(key, n === 0 ? `{value_zero,${n}}` : `{value_negative,${n}}`);
    return n;
  };
  let maxAgeMs = 0;
  const age = args['x-max-age'];
  if (age !== undefined) {
    if (typeof age !== 'string') throw invalid('x-max-age', `{unacceptable_type,${typeName(age)}}`);
    const ms = parseDuration(age);
    if (ms === null) throw invalid('x-max-age', 'invalid_max_age');
    maxAgeMs = ms;
  }
  const segment = integer('x-stream-max-segment-size-bytes', 0);
  if (segment !== undefined && segment > MAX_STREAM_SEGMENT_BYTES) {
    throw preconditionFailed('Exceeded max value for x-stream-max-segment-size-bytes');
  }
  integer('x-initial-cluster-size', 1);
  const locator = args['x-queue-leader-locator'];
  if (locator !== undefined && locator !== 'client-local' && locator !== 'balanced') {
    throw invalid('x-queue-leader-locator', 'invalid_queue_locator_arg');
  }
  return {
    maxAgeMs,
    maxLengthBytes: integer('x-max-length-bytes', 0) ?? 0,
    segmentMaxBytes: Math.max(segment ?? DEFAULT_STREAM_SEGMENT_BYTES, MIN_STREAM_SEGMENT_BYTES),
    appendOnly: args['x-stream-append-only'] === true,
  };
}

/** RabbitMQ's redeclare rule for streams: the queue type and the retention arguments must match. */
export function checkStreamArgumentsEquivalent(
  current: FieldTable,
  requested: FieldTable,
  describe: string,
): void {
  const type = requested['x-queue-type'];
  if (text(type) !== 'stream') {
    const received =
      type === undefined ? "'classic'" : `the value '${describeValue(type)}' of type '${typeName(type)}'`;
    throw preconditionFailed(
      `inequivalent arg 'x-queue-type' for ${describe}: received ${received} but current is 'stream'`,
    );
  }
  checkArgumentsEquivalent(streamEquivalenceChecked, current, requested, describe);
}

/** Where a new stream consumer starts (basic.consume argument x-stream-offset). */
export type StreamStart =
  | { kind: 'first' }
  | { kind: 'last' }
  | { kind: 'next' }
  | { kind: 'offset'; offset: number }
  | { kind: 'time'; timestamp: number };

/**
 * Parses x-stream-offset: first, last, next, an integer offset (negative: first), a timestamp, or an
 * interval such as "1h" back from `now`. Anything else is refused with 406 (RabbitMQ 3.10 answers some of
 * these, such as "yesterday" or a double, with 541 INTERNAL_ERROR). Default: next.
 */
export function parseStreamStart(value: FieldValue | undefined, now: number, describe: string): StreamStart {
  if (value === undefined) return { kind: 'next' };
  if (value instanceof TypedFieldValue && value.type === 'timestamp') {
    return { kind: 'time', timestamp: Number(value.value) * 1000 };
  }
  const n = integerValue(value);
  if (n !== undefined) return n < 0 ? { kind: 'first' } : { kind: 'offset', offset: n };
  const s = text(value);
  if (s === 'first' || s === 'last' || s === 'next') return { kind: s };
  if (s !== undefined) {
    const ms = parseDuration(s);
    if (ms !== null) return { kind: 'time', timestamp: now - ms };
  }
  const shown = s !== undefined ? `{longstr,<<"${s}">>}` : `{${typeName(value)},${describeValue(value)}}`;
  throw preconditionFailed(
    `invalid arg 'x-stream-offset' for ${describe}: {invalid_stream_offset_arg,${shown}}`,
  );
}
