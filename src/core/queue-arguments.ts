import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { TypedFieldValue } from '../codec/field-table.js';
import { preconditionFailed } from './errors.js';
import { fieldValuesEqual } from './headers-matcher.js';

/** The queue arguments the core understands, validated once at declare time. */
export interface QueueSettings {
  messageTtl: number; // ms, -1 = none
  expires: number; // ms, -1 = none
  maxLength: number; // -1 = unlimited
  maxLengthBytes: number; // -1 = unlimited
  maxPriority: number; // 0 = not a priority queue
  overflow: 'drop-head' | 'reject-publish' | 'reject-publish-dlx';
  deadLetterExchange: string | undefined;
  deadLetterRoutingKey: string | undefined;
  singleActiveConsumer: boolean;
  deliveryLimit: number; // -1 = unlimited
  /** Redeliveries carry x-delivery-count (quorum queues always; others when a delivery limit is set). */
  countDeliveries: boolean;
  queueType: 'classic' | 'quorum';
}

/** Arguments RabbitMQ compares on redeclare; others may differ freely. */
const equivalenceChecked = [
  'x-expires',
  'x-message-ttl',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-max-length',
  'x-max-length-bytes',
  'x-max-priority',
  'x-overflow',
  'x-queue-mode',
  'x-queue-type',
  'x-single-active-consumer',
  'x-delivery-limit',
];

export function typeName(v: FieldValue): string {
  if (typeof v === 'string') return 'longstr';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'long' : 'double';
  if (typeof v === 'bigint') return 'long';
  if (Buffer.isBuffer(v)) return 'binary';
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'void';
  if (v instanceof TypedFieldValue) return v.type;
  return 'table';
}

function scalar(v: FieldValue): FieldValue {
  if (v instanceof TypedFieldValue && (typeof v.value === 'number' || typeof v.value === 'bigint'))
    return v.value;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return v;
}

export function describeValue(v: FieldValue | undefined): string {
  if (v === undefined) return 'none';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'object' && v !== null)
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x));
  return String(v);
}

export function parseQueueArguments(args: FieldTable | undefined, describe: string): QueueSettings {
  const invalid = (key: string, why: string) =>
    preconditionFailed(`invalid arg '${key}' for ${describe}: ${why}`);
  const integer = (key: string, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const raw = args?.[key];
    if (raw === undefined) return -1;
    const v = scalar(raw);
    if (typeof v !== 'number' && typeof v !== 'bigint')
      throw invalid(key, `{unacceptable_type,${typeName(raw)}}`);
    const n = Number(v);
    if (!Number.isInteger(n)) throw invalid(key, `{unacceptable_type,${typeName(raw)}}`);
    if (n < min) throw invalid(key, n === 0 ? `{value_zero,${n}}` : `{value_negative,${n}}`);
    if (n > max) throw invalid(key, `{value_too_large,${n},${max}}`);
    return n;
  };
  const text = (key: string): string | undefined => {
    const raw = args?.[key];
    if (raw === undefined) return undefined;
    const v = scalar(raw);
    if (typeof v !== 'string') throw invalid(key, `{unacceptable_type,${typeName(raw)}}`);
    return v;
  };
  const overflow = text('x-overflow') ?? 'drop-head';
  if (overflow !== 'drop-head' && overflow !== 'reject-publish' && overflow !== 'reject-publish-dlx') {
    throw invalid('x-overflow', `{unknown_overflow_value,<<"${overflow}">>}`);
  }
  const mode = text('x-queue-mode');
  if (mode !== undefined && mode !== 'default' && mode !== 'lazy') {
    throw invalid('x-queue-mode', `{unsupported_queue_mode,<<"${mode}">>}`);
  }
  const queueType = text('x-queue-type') ?? 'classic';
  if (queueType !== 'classic' && queueType !== 'quorum') {
    throw invalid('x-queue-type', `{unsupported_queue_type,<<"${queueType}">>}`);
  }
  const sac = args?.['x-single-active-consumer'];
  if (sac !== undefined && typeof sac !== 'boolean') {
    throw invalid('x-single-active-consumer', `{unacceptable_type,${typeName(sac)}}`);
  }
  const dlrk = text('x-dead-letter-routing-key');
  const dlx = text('x-dead-letter-exchange');
  if (dlrk !== undefined && dlx === undefined) {
    throw invalid('x-dead-letter-routing-key', 'Key x-dead-letter-exchange must be set');
  }
  const maxPriority = integer('x-max-priority', 0, 255);
  const deliveryLimit = integer('x-delivery-limit', 0);
  const expires = integer('x-expires', 1, 0xffffffff);
  return {
    messageTtl: integer('x-message-ttl', 0, 0xffffffff),
    expires,
    maxLength: integer('x-max-length', 0),
    maxLengthBytes: integer('x-max-length-bytes', 0),
    maxPriority: Math.max(0, maxPriority),
    overflow,
    deadLetterExchange: dlx,
    deadLetterRoutingKey: dlrk,
    singleActiveConsumer: sac === true,
    deliveryLimit,
    countDeliveries: queueType === 'quorum' || deliveryLimit >= 0,
    queueType,
  };
}

/** RabbitMQ's redeclare rule: each checked argument must be absent in both or equal in value. */
export function checkQueueArgumentsEquivalent(
  current: FieldTable | undefined,
  requested: FieldTable | undefined,
  describe: string,
): void {
  checkArgumentsEquivalent(equivalenceChecked, current, requested, describe);
}

/** The redeclare rule over the given argument names. */
export function checkArgumentsEquivalent(
  keys: readonly string[],
  current: FieldTable | undefined,
  requested: FieldTable | undefined,
  describe: string,
): void {
  for (const key of keys) {
    const a = current?.[key];
    const b = requested?.[key];
    if (a === undefined && b === undefined) continue;
    if (a !== undefined && b !== undefined && fieldValuesEqual(scalar(a), scalar(b))) continue;
    throw preconditionFailed(
      `inequivalent arg '${key}' for ${describe}: received ${b === undefined ? 'none' : `the value '${describeValue(b)}' of type '${typeName(b)}'`} but current is ${a === undefined ? 'none' : `the value '${describeValue(a)}' of type '${typeName(a)}'`}`,
    );
  }
}
