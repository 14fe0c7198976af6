/**
 * Policies (RabbitMQ's runtime-configurable x-arguments): the shape of one policy and the validation of
 * what an operator sends. The keys and value rules are RabbitMQ's (rabbit_policies validators); keys
 * RabbitMQ knows but EventterMQ does not implement are refused rather than silently ignored.
 */

export type PolicyApplyTo = 'queues' | 'exchanges' | 'all';
export type PolicyValue = string | number | boolean;

export interface Policy {
  vhost: string;
  name: string;
  /** A regular expression matched (unanchored) against queue / exchange names. */
  pattern: string;
  applyTo: PolicyApplyTo;
  /** The highest-priority matching policy is the only one applied to an object. */
  priority: number;
  definition: Record<string, PolicyValue>;
}

/** How a policy value and the object's own argument combine (RabbitMQ's rules). */
export type PolicyMerge = 'min' | 'argument-wins';

export interface PolicyKeySpec {
  /** What the key configures. */
  target: 'queue' | 'exchange';
  /** The declare argument that carries the same setting. */
  argument: string;
  merge: PolicyMerge;
  /** Throws PolicyValidationError for a value RabbitMQ would refuse. */
  check(key: string, value: unknown): PolicyValue;
}

export class PolicyValidationError extends Error {
  override name = 'PolicyValidationError';
}

export const POLICY_MAX_NAME_BYTES = 255;
export const POLICY_MAX_PATTERN_LENGTH = 1024;
/** Exchange names and routing keys are AMQP short strings. */
const MAX_SHORTSTR_BYTES = 255;
/** RabbitMQ's bound on x-message-ttl and x-expires (an unsigned 32-bit millisecond count). */
const MAX_MILLIS = 0xffffffff;

const integer =
  (min: number, max: number, what: string) =>
  (key: string, value: unknown): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new PolicyValidationError(
        `${JSON.stringify(value)} is not a valid ${what} for '${key}': expected an integer from ${min} to ${max}`,
      );
    }
    return value;
  };

const shortString =
  (what: string) =>
  (key: string, value: unknown): string => {
    if (typeof value !== 'string' || Buffer.byteLength(value) > MAX_SHORTSTR_BYTES) {
      throw new PolicyValidationError(
        `${JSON.stringify(value)} is not a valid ${what} for '${key}': expected a string of at most ${MAX_SHORTSTR_BYTES} bytes`,
      );
    }
    return value;
  };

const oneOf =
  (allowed: readonly string[]) =>
  (key: string, value: unknown): string => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      throw new PolicyValidationError(
        `${JSON.stringify(value)} is not a valid value for '${key}': expected one of ${allowed.join(', ')}`,
      );
    }
    return value;
  };

/** RabbitMQ's duration syntax for max-age: digits and one unit of Y M D h m s, e.g. "7D". */
const duration = (key: string, value: unknown): string => {
  if (typeof value !== 'string' || !/^\d+[YMDhms]$/.test(value) || /^0+[YMDhms]$/.test(value)) {
    throw new PolicyValidationError(
      `${JSON.stringify(value)} is not a valid value for '${key}': expected a duration such as "7D", "12h" or "30m"`,
    );
  }
  return value;
};

const queueKey = (argument: string, merge: PolicyMerge, check: PolicyKeySpec['check']): PolicyKeySpec => ({
  target: 'queue',
  argument,
  merge,
  check,
});

/**
 * Every definition key EventterMQ accepts. Numeric limits resolve to the lower of policy and argument;
 * names and modes resolve to the argument when the object has one (RabbitMQ's classic queue rules).
 */
export const POLICY_KEYS: Readonly<Record<string, PolicyKeySpec>> = Object.freeze({
  'message-ttl': queueKey('x-message-ttl', 'min', integer(0, MAX_MILLIS, 'message TTL')),
  expires: queueKey('x-expires', 'min', integer(1, MAX_MILLIS, 'queue expiry')),
  'max-length': queueKey('x-max-length', 'min', integer(0, Number.MAX_SAFE_INTEGER, 'maximum length')),
  'max-length-bytes': queueKey(
    'x-max-length-bytes',
    'min',
    integer(0, Number.MAX_SAFE_INTEGER, 'maximum length in bytes'),
  ),
  'delivery-limit': queueKey(
    'x-delivery-limit',
    'min',
    integer(0, Number.MAX_SAFE_INTEGER, 'delivery limit'),
  ),
  overflow: queueKey(
    'x-overflow',
    'argument-wins',
    oneOf(['drop-head', 'reject-publish', 'reject-publish-dlx']),
  ),
  'dead-letter-exchange': queueKey(
    'x-dead-letter-exchange',
    'argument-wins',
    shortString('dead letter exchange name'),
  ),
  'dead-letter-routing-key': queueKey(
    'x-dead-letter-routing-key',
    'argument-wins',
    shortString('dead letter routing key'),
  ),
  'queue-mode': queueKey('x-queue-mode', 'argument-wins', oneOf(['default', 'lazy'])),
  // Streams' retention and segment size (RabbitMQ's stream policy keys); classic queues ignore them.
  'max-age': queueKey('x-max-age', 'argument-wins', duration),
  'stream-max-segment-size-bytes': queueKey(
    'x-stream-max-segment-size-bytes',
    'argument-wins',
    integer(0, 3_000_000_000, 'stream segment size'),
  ),
  'alternate-exchange': {
    target: 'exchange',
    // Exchanges carry it without the x- prefix, as RabbitMQ does.
    argument: 'alternate-exchange',
    merge: 'argument-wins',
    check: shortString('alternate exchange name'),
  },
});

/** RabbitMQ keys with no EventterMQ implementation, named so the error can say so instead of "unknown". */
const UNSUPPORTED_KEYS = new Set([
  'ha-mode',
  'ha-params',
  'ha-sync-mode',
  'ha-promote-on-shutdown',
  'ha-promote-on-failure',
  'queue-master-locator',
  'queue-leader-locator',
  'queue-version',
  'initial-cluster-size',
  'max-segment-size',
  'max-segment-size-bytes',
  'max-in-memory-length',
  'max-in-memory-bytes',
  'dead-letter-strategy',
  'federation-upstream',
  'federation-upstream-set',
  'federation-upstream-pattern',
]);

/** Set only by the declaring client in RabbitMQ too: say so, since operators try them. */
const ARGUMENT_ONLY_KEYS = new Set(['max-priority', 'single-active-consumer', 'queue-type']);

const APPLY_TO: readonly PolicyApplyTo[] = ['queues', 'exchanges', 'all'];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates a policy definition object; returns a fresh copy holding only checked values. */
export function validatePolicyDefinition(raw: unknown): Record<string, PolicyValue> {
  if (!isPlainObject(raw)) throw new PolicyValidationError('the definition must be a JSON object');
  const keys = Object.keys(raw);
  if (keys.length === 0) throw new PolicyValidationError('the definition is empty: no policy provided');
  const out: Record<string, PolicyValue> = {};
  for (const key of keys) {
    const spec = Object.hasOwn(POLICY_KEYS, key) ? POLICY_KEYS[key] : undefined;
    if (spec === undefined) {
      const shown = JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}...` : key);
      if (ARGUMENT_ONLY_KEYS.has(key)) {
        throw new PolicyValidationError(
          `${shown} cannot be set by a policy (as in RabbitMQ): declare the queue with x-${key} instead`,
        );
      }
      if (UNSUPPORTED_KEYS.has(key)) {
        throw new PolicyValidationError(`${shown} is a RabbitMQ policy key EventterMQ does not support`);
      }
      throw new PolicyValidationError(
        `unknown policy key ${shown}; supported keys: ${Object.keys(POLICY_KEYS).join(', ')}`,
      );
    }
    out[key] = spec.check(key, raw[key]);
  }
  return out;
}

export function validatePolicyName(what: 'vhost' | 'policy name', value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value) > POLICY_MAX_NAME_BYTES) {
    throw new PolicyValidationError(`the ${what} must be a string of 1..${POLICY_MAX_NAME_BYTES} bytes`);
  }
  return value;
}

/** Compiles a policy pattern; a pattern that does not compile is a validation error. */
export function compilePolicyPattern(pattern: unknown): RegExp {
  if (typeof pattern !== 'string' || pattern.length > POLICY_MAX_PATTERN_LENGTH) {
    throw new PolicyValidationError(
      `the pattern must be a regular expression of at most ${POLICY_MAX_PATTERN_LENGTH} characters`,
    );
  }
  try {
    return new RegExp(pattern);
  } catch (err) {
    throw new PolicyValidationError(`invalid pattern ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}

export function validateApplyTo(value: unknown): PolicyApplyTo {
  if (value === undefined) return 'all';
  if (typeof value !== 'string' || !(APPLY_TO as readonly string[]).includes(value)) {
    throw new PolicyValidationError(
      `${JSON.stringify(value)} is not a valid apply-to: expected one of ${APPLY_TO.join(', ')}`,
    );
  }
  return value as PolicyApplyTo;
}

export function validatePriority(value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isFinite(value) || Math.abs(value) > Number.MAX_SAFE_INTEGER) {
    throw new PolicyValidationError(`${JSON.stringify(value)} is not a valid priority: expected a number`);
  }
  return value;
}

/** Validates every field of a policy (applyTo defaults to 'all', priority to 0, as in RabbitMQ). */
export function validatePolicy(raw: {
  vhost: unknown;
  name: unknown;
  pattern: unknown;
  applyTo?: unknown;
  priority?: unknown;
  definition: unknown;
}): Policy {
  const vhost = validatePolicyName('vhost', raw.vhost);
  const name = validatePolicyName('policy name', raw.name);
  compilePolicyPattern(raw.pattern);
  return {
    vhost,
    name,
    pattern: raw.pattern as string,
    applyTo: validateApplyTo(raw.applyTo),
    priority: validatePriority(raw.priority),
    definition: validatePolicyDefinition(raw.definition),
  };
}
