import {
  type FieldTable,
  type FieldValue,
  MAX_FIELD_TABLE_DEPTH,
  TypedFieldValue,
} from '../codec/field-table.js';

/**
 * RabbitMQ's definitions file (`rabbitmqctl export_definitions`, `GET /api/definitions`): the JSON shapes,
 * and how x-arguments travel in it. Arguments are JSON the way RabbitMQ writes them: strings, numbers,
 * booleans, null, arrays and objects; typed AMQP values (bytes, timestamps, decimals) lose their type.
 */

/** The RabbitMQ release whose definitions format we write and read. */
export const DEFINITIONS_FORMAT_VERSION = '3.10.8';
export const PRODUCT_NAME = 'EventterMQ';
/** A definitions file is read whole into memory: this bounds it (RabbitMQ's own exports are kilobytes). */
export const DEFINITIONS_MAX_BYTES = 64 * 1024 * 1024;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface UserJson {
  name: string;
  /** Absent for users we hold no hash for (config-file users with plain passwords, passwordless users). */
  password_hash?: string;
  hashing_algorithm?: string;
  tags: string[];
  limits: JsonObject;
}

export interface VhostJson {
  name: string;
  description: string;
  tags: string[];
}

export interface PermissionJson {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export interface TopicPermissionJson {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

/** Runtime parameters; EventterMQ has only the vhost-limits component. */
export interface ParameterJson {
  vhost?: string;
  component: string;
  name: string;
  value: JsonValue;
}

export interface PolicyJson {
  vhost?: string;
  name: string;
  pattern: string;
  'apply-to': string;
  definition: JsonObject;
  priority: number;
}

export interface QueueJson {
  name: string;
  vhost?: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  arguments: JsonObject;
}

export interface ExchangeJson {
  name: string;
  vhost?: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: JsonObject;
}

export interface BindingJson {
  source: string;
  vhost?: string;
  destination: string;
  destination_type: 'queue' | 'exchange';
  routing_key: string;
  arguments: JsonObject;
}

/** The vhost's own part: what `GET /api/definitions/:vhost` answers. */
export interface VhostDefinitionsJson {
  rabbit_version: string;
  rabbitmq_version: string;
  product_name: string;
  product_version: string;
  parameters: ParameterJson[];
  policies: PolicyJson[];
  queues: QueueJson[];
  exchanges: ExchangeJson[];
  bindings: BindingJson[];
}

/** The whole broker, keys in the order RabbitMQ's management API writes them. */
export interface DefinitionsJson {
  rabbit_version: string;
  rabbitmq_version: string;
  product_name: string;
  product_version: string;
  users: UserJson[];
  vhosts: VhostJson[];
  permissions: PermissionJson[];
  topic_permissions: TopicPermissionJson[];
  parameters: ParameterJson[];
  global_parameters: Array<{ name: string; value: JsonValue }>;
  policies: PolicyJson[];
  queues: QueueJson[];
  exchanges: ExchangeJson[];
  bindings: BindingJson[];
}

/** A file that cannot be imported; `problems` names each offending item. Nothing was applied. */
export class DefinitionsError extends Error {
  override name = 'DefinitionsError';
  constructor(readonly problems: readonly string[]) {
    super(
      problems.length === 1
        ? `definitions not imported: ${problems[0]}`
        : `definitions not imported (${problems.length} problems):\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
}

/** Parses a definitions file's text, bounded in size; a DefinitionsError says what is wrong with it. */
export function parseDefinitionsText(text: string): unknown {
  if (Buffer.byteLength(text) > DEFINITIONS_MAX_BYTES) {
    throw new DefinitionsError([`the file is larger than ${DEFINITIONS_MAX_BYTES / 1024 / 1024} MiB`]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new DefinitionsError([`the file is not valid JSON: ${(err as Error).message}`]);
  }
}

/** An argument table as RabbitMQ writes it into definitions. */
export function argumentsToJson(table: FieldTable): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(table).sort(compareText)) {
    const value = table[key];
    if (value !== undefined) out[key] = valueToJson(value);
  }
  return out;
}

function valueToJson(value: FieldValue): JsonValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return Math.floor(value.getTime() / 1000);
  if (value instanceof TypedFieldValue) {
    const v = value.value;
    if (typeof v === 'object') return v.value / 10 ** v.places;
    return Number(v);
  }
  if (Array.isArray(value)) return value.map(valueToJson);
  return argumentsToJson(value);
}

/**
 * An argument table from definitions JSON (RabbitMQ's `to_amqp_table`: numbers, strings, booleans, null,
 * arrays and objects). Returns a problem text instead of throwing, so the caller can name the item.
 */
export function argumentsFromJson(value: unknown): { table: FieldTable } | { problem: string } {
  // RabbitMQ takes a missing table, null and [] (Erlang's empty proplist) as no arguments.
  if (value === undefined || value === null || (Array.isArray(value) && value.length === 0))
    return { table: {} };
  if (!isPlainObject(value)) return { problem: 'arguments must be a JSON object' };
  const problem = jsonValueProblem(value, 1);
  return problem === undefined ? { table: value as FieldTable } : { problem };
}

function jsonValueProblem(value: unknown, depth: number): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number')
    return Number.isFinite(value) ? undefined : 'arguments hold a number JSON cannot carry';
  if (depth > MAX_FIELD_TABLE_DEPTH) return `arguments nest deeper than ${MAX_FIELD_TABLE_DEPTH} levels`;
  if (Array.isArray(value)) {
    for (const item of value) {
      const problem = jsonValueProblem(item, depth + 1);
      if (problem) return problem;
    }
    return undefined;
  }
  if (!isPlainObject(value)) return 'arguments hold a value JSON cannot carry';
  for (const [key, item] of Object.entries(value)) {
    // Table keys are AMQP short strings.
    if (Buffer.byteLength(key) > 255)
      return `argument name ${JSON.stringify(key.slice(0, 40))}... is over 255 bytes`;
    const problem = jsonValueProblem(item, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON with object keys sorted: two values are the same definition when these texts are equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort(compareText)
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
export function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
