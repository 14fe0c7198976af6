import {
  describeJson,
  type ItemReader,
  itemAt,
  ProblemList,
  quote,
  readLimits,
} from './definitions-fields.js';
import { canonicalJson, DefinitionsError, isPlainObject } from './definitions-format.js';
import {
  type PlannedBinding,
  type PlannedExchange,
  type PlannedQueue,
  readBinding,
  readExchange,
  readQueue,
} from './definitions-topology.js';
import { fromRabbitHash, RABBIT_HASHING_ALGORITHMS } from './password-hash.js';
import { PermissionPatternError } from './permission-pattern.js';
import { CompiledPermissions, CompiledTopicPermissions } from './permission-table.js';
import { type Policy, PolicyValidationError, validatePolicy } from './policy-definition.js';
import { UserAdminError, validateTags, validateUserName } from './user-validation.js';
import type { PermissionEntry, TopicPermissionEntry, UserLimits } from './users.js';
import { VhostAdminError, type VhostLimits, validateVhostName } from './vhost-info.js';

/**
 * Reading a definitions file into a plan: every item checked on its own (types, names, bounds, patterns,
 * hashes, arguments), with every problem collected and named. Nothing here looks at the broker; the
 * importer checks the plan against it (references, conflicts) before applying anything.
 */

export type PlannedPassword =
  | { kind: 'hash'; stored: string }
  | { kind: 'plain'; password: string }
  /** password_hash "": the user cannot log in with a password. */
  | { kind: 'none' }
  /** Neither field: an existing user keeps its password; a new one has none. */
  | { kind: 'keep' };

export interface PlannedUser {
  name: string;
  tags: string[];
  /** Undefined: an existing user keeps its limits. */
  limits: UserLimits | undefined;
  password: PlannedPassword;
}

export interface PlannedVhost {
  name: string;
  description: string;
  tags: string[];
}

export interface DefinitionsPlan {
  /** Set for a vhost import: everything goes into this vhost. */
  targetVhost: string | undefined;
  vhosts: PlannedVhost[];
  vhostLimits: Array<{ vhost: string; limits: VhostLimits }>;
  users: PlannedUser[];
  permissions: PermissionEntry[];
  topicPermissions: TopicPermissionEntry[];
  policies: Policy[];
  exchanges: PlannedExchange[];
  queues: PlannedQueue[];
  bindings: PlannedBinding[];
  warnings: string[];
}

const TOP_LEVEL_INFO = new Set(['rabbit_version', 'rabbitmq_version', 'product_name', 'product_version']);
const GLOBAL_CATEGORIES = ['users', 'vhosts', 'permissions', 'topic_permissions', 'global_parameters'];
const VHOST_CATEGORIES = ['parameters', 'policies', 'queues', 'exchanges', 'bindings'];
/** Policy keys that only place replicas in a RabbitMQ cluster: meaningless on one node, dropped with a warning. */
const CLUSTER_POLICY_KEYS = new Set([
  'ha-mode',
  'ha-params',
  'ha-sync-mode',
  'ha-sync-batch-size',
  'ha-promote-on-shutdown',
  'ha-promote-on-failure',
  'queue-master-locator',
  'queue-leader-locator',
  'initial-cluster-size',
]);
const VHOST_LIMIT_KEYS = ['max-connections', 'max-queues'];
const USER_LIMIT_KEYS = ['max-connections', 'max-channels'];

/** Reads and checks a parsed definitions file; throws DefinitionsError listing every problem. */
export function planDefinitions(input: unknown, options: { vhost?: string } = {}): DefinitionsPlan {
  if (!isPlainObject(input)) {
    throw new DefinitionsError([`the file must hold a JSON object, not ${describeJson(input)}`]);
  }
  const problems = new ProblemList();
  const target = options.vhost;
  for (const key of Object.keys(input)) {
    if (!TOP_LEVEL_INFO.has(key) && !GLOBAL_CATEGORIES.includes(key) && !VHOST_CATEGORIES.includes(key))
      problems.warn(`unknown key ${quote(key)} ignored`);
  }
  const list = (category: string): unknown[] => {
    const value = input[category];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      problems.add(`${category} must be a JSON array, not ${describeJson(value)}`);
      return [];
    }
    if (target !== undefined && GLOBAL_CATEGORIES.includes(category) && value.length > 0) {
      problems.warn(`a vhost import ignores ${category}`);
      return [];
    }
    return value;
  };
  const version = input.rabbitmq_version ?? input.rabbit_version;
  const defaultAlgorithm = typeof version === 'string' && isBefore36(version) ? 'md5' : 'sha256';

  // Vhost-level items name their vhost; in a vhost import the target replaces it, as in RabbitMQ.
  const vhostOf = (reader: ItemReader): string | undefined => {
    if (target !== undefined) return target;
    if (!reader.has('vhost'))
      return reader.fail('vhost is missing (a per-vhost export? import it into a vhost)');
    return reader.text('vhost', { nonEmpty: true });
  };

  const plan: DefinitionsPlan = {
    targetVhost: target,
    vhosts: unique(list('vhosts'), 'vhosts', problems, (r) => readVhost(r)),
    vhostLimits: [],
    users: unique(list('users'), 'users', problems, (r) => readUser(r, defaultAlgorithm)),
    permissions: unique(list('permissions'), 'permissions', problems, readPermission),
    topicPermissions: unique(list('topic_permissions'), 'topic_permissions', problems, readTopicPermission),
    policies: unique(list('policies'), 'policies', problems, (r) => readPolicy(r, vhostOf, problems)),
    exchanges: unique(list('exchanges'), 'exchanges', problems, (r) => readExchange(r, vhostOf, problems)),
    queues: unique(list('queues'), 'queues', problems, (r) => readQueue(r, vhostOf, problems)),
    bindings: unique(list('bindings'), 'bindings', problems, (r) => readBinding(r, vhostOf, problems)),
    warnings: problems.warnings,
  };
  plan.vhostLimits = unique(list('parameters'), 'parameters', problems, (r) => readParameter(r, vhostOf));
  for (const [index, item] of list('global_parameters').entries()) {
    const name = isPlainObject(item) && typeof item.name === 'string' ? item.name : `[${index}]`;
    // RabbitMQ's internal ones (internal_cluster_id) say nothing about the topology.
    if (!name.startsWith('internal')) problems.warn(`global parameter ${quote(name)} ignored`);
  }
  if (problems.problems.length > 0) throw new DefinitionsError(problems.all());
  return plan;
}

/**
 * Reads every item of a category; an item may appear twice only with the same content (a key clash with
 * different content is a problem). The reader returns [identity, value] or undefined after reporting.
 */
function unique<T>(
  items: unknown[],
  category: string,
  problems: ProblemList,
  read: (reader: ItemReader) => [string, T] | undefined,
): T[] {
  const byKey = new Map<string, { value: T; text: string; where: string }>();
  for (let i = 0; i < items.length; i++) {
    const reader = itemAt(items, i, category, problems);
    const read_ = reader && read(reader);
    if (!read_ || !reader) continue;
    const [key, value] = read_;
    const text = canonicalJson(value);
    const earlier = byKey.get(key);
    if (earlier === undefined) byKey.set(key, { value, text, where: reader.where });
    else if (earlier.text !== text) problems.add(`${reader.where}: appears twice, with different contents`);
  }
  return [...byKey.values()].map((e) => e.value);
}

function isBefore36(version: string): boolean {
  const [major, minor] = version.split('.').map((part) => Number.parseInt(part, 10));
  return major < 3 || (major === 3 && minor < 6);
}

/** Tags as RabbitMQ takes them: a list, or one comma-separated string (what 3.10 exports for vhosts). */
function readTagList(reader: ItemReader, value: unknown): string[] | undefined {
  if (value === undefined || value === null) return [];
  const raw = typeof value === 'string' ? value.split(',') : value;
  if (!Array.isArray(raw) || raw.some((t) => typeof t !== 'string'))
    return reader.fail(`tags must be a list of strings or one comma-separated string`);
  try {
    return validateTags(raw as string[]);
  } catch (err) {
    if (err instanceof UserAdminError) return reader.fail(err.message);
    throw err;
  }
}

/** The item's name, checked by `validate` (its refusal becomes a problem); problems name the item by it. */
function readName(reader: ItemReader, kind: 'vhost' | 'user', validate: (name: string) => void) {
  const name = reader.text('name');
  if (name === undefined) return undefined;
  reader.where = `${kind} ${quote(name)}`;
  try {
    validate(name);
  } catch (err) {
    if (err instanceof VhostAdminError || err instanceof UserAdminError) return reader.fail(err.message);
    throw err;
  }
  return name;
}

function readVhost(reader: ItemReader): [string, PlannedVhost] | undefined {
  const name = readName(reader, 'vhost', validateVhostName);
  if (name === undefined) return undefined;
  // RabbitMQ 3.10 writes description and tags under metadata; the flat form is read too.
  const metadata = reader.raw('metadata');
  const meta = isPlainObject(metadata) ? metadata : {};
  const description = reader.raw('description') ?? meta.description ?? '';
  if (typeof description !== 'string' || description.length > 1024)
    return reader.fail('description must be a string of at most 1024 characters');
  const tags = readTagList(reader, reader.raw('tags') ?? meta.tags);
  return tags && [name, { name, description, tags }];
}

function readUser(reader: ItemReader, defaultAlgorithm: string): [string, PlannedUser] | undefined {
  const name = readName(reader, 'user', validateUserName);
  if (name === undefined) return undefined;
  const tags = readTagList(reader, reader.raw('tags'));
  const limits = reader.has('limits')
    ? readLimits(reader.raw('limits'), USER_LIMIT_KEYS, (t) => reader.fail(t))
    : undefined;
  if (tags === undefined || (reader.has('limits') && limits === undefined)) return undefined;
  const password = readPassword(reader, defaultAlgorithm);
  return password && [name, { name, tags, limits, password }];
}

function readPassword(reader: ItemReader, defaultAlgorithm: string): PlannedPassword | undefined {
  if (reader.has('password') && reader.has('password_hash'))
    return reader.fail('has both password and password_hash; give one');
  if (reader.has('password')) {
    const password = reader.text('password', { nonEmpty: true, maxBytes: 1024 });
    return password === undefined ? undefined : { kind: 'plain', password };
  }
  if (!reader.has('password_hash')) return { kind: 'keep' };
  const hash = reader.text('password_hash');
  if (hash === undefined) return undefined;
  if (hash === '') return { kind: 'none' };
  const fallback = Object.keys(RABBIT_HASHING_ALGORITHMS).find(
    (name) => RABBIT_HASHING_ALGORITHMS[name] === defaultAlgorithm,
  ) as string;
  const algorithm = reader.text('hashing_algorithm', { fallback });
  if (algorithm === undefined) return undefined;
  const result = fromRabbitHash(hash, algorithm);
  return 'problem' in result ? reader.fail(result.problem) : { kind: 'hash', stored: result.stored };
}

function patternProblem(reader: ItemReader, compile: () => void): boolean {
  try {
    compile();
    return false;
  } catch (err) {
    if (!(err instanceof PermissionPatternError)) throw err;
    reader.fail(err.message);
    return true;
  }
}

function readPermission(reader: ItemReader): [string, PermissionEntry] | undefined {
  const user = reader.text('user', { nonEmpty: true });
  const vhost = reader.text('vhost', { nonEmpty: true });
  if (user === undefined || vhost === undefined) return undefined;
  reader.where = `permissions of user ${quote(user)} in vhost ${quote(vhost)}`;
  const configure = reader.text('configure');
  const write = reader.text('write');
  const read = reader.text('read');
  if (configure === undefined || write === undefined || read === undefined) return undefined;
  if (patternProblem(reader, () => new CompiledPermissions({ configure, write, read }))) return undefined;
  return [`${vhost}\u0000${user}`, { user, vhost, configure, write, read }];
}

function readTopicPermission(reader: ItemReader): [string, TopicPermissionEntry] | undefined {
  const user = reader.text('user', { nonEmpty: true });
  const vhost = reader.text('vhost', { nonEmpty: true });
  const exchange = reader.text('exchange', { maxBytes: 255 });
  if (user === undefined || vhost === undefined || exchange === undefined) return undefined;
  reader.where = `topic permissions of user ${quote(user)} in vhost ${quote(vhost)} on exchange ${quote(exchange)}`;
  const write = reader.text('write');
  const read = reader.text('read');
  if (write === undefined || read === undefined) return undefined;
  const vars = { username: user, vhost };
  if (patternProblem(reader, () => new CompiledTopicPermissions({ write, read }, vars))) return undefined;
  return [`${vhost}\u0000${user}\u0000${exchange}`, { user, vhost, exchange, write, read }];
}

function readParameter(
  reader: ItemReader,
  vhostOf: (reader: ItemReader) => string | undefined,
): [string, { vhost: string; limits: VhostLimits }] | undefined {
  const component = reader.text('component');
  const name = reader.text('name');
  const vhost = vhostOf(reader);
  if (component === undefined || name === undefined || vhost === undefined) return undefined;
  reader.where = `parameter ${quote(name)} of component ${quote(component)} in vhost ${quote(vhost)}`;
  if (component !== 'vhost-limits') {
    return reader.fail(
      `runtime parameters of component ${quote(component)} are not supported (EventterMQ has vhost-limits only)`,
    );
  }
  const limits = readLimits(reader.raw('value'), VHOST_LIMIT_KEYS, (t) => reader.fail(t));
  return limits && [vhost, { vhost, limits }];
}

function readPolicy(
  reader: ItemReader,
  vhostOf: (reader: ItemReader) => string | undefined,
  problems: ProblemList,
): [string, Policy] | undefined {
  const name = reader.text('name');
  const vhost = vhostOf(reader);
  if (name === undefined || vhost === undefined) return undefined;
  reader.where = `policy ${quote(name)} in vhost ${quote(vhost)}`;
  const raw = reader.raw('definition');
  let definition = raw;
  if (isPlainObject(raw)) {
    const dropped = Object.keys(raw).filter((key) => CLUSTER_POLICY_KEYS.has(key));
    if (dropped.length > 0) {
      definition = Object.fromEntries(Object.entries(raw).filter(([key]) => !CLUSTER_POLICY_KEYS.has(key)));
      const what = dropped.map(quote).join(', ');
      if (Object.keys(definition as object).length === 0) {
        problems.warn(
          `${reader.where}: skipped; it only sets cluster replication (${what}), which one node does not have`,
        );
        return undefined;
      }
      problems.warn(`${reader.where}: ${what} dropped (cluster replication, which one node does not have)`);
    }
  }
  try {
    const policy = validatePolicy({
      vhost,
      name,
      pattern: reader.raw('pattern'),
      applyTo: reader.raw('apply-to'),
      priority: reader.raw('priority'),
      definition,
    });
    return [`${vhost}\u0000${name}`, policy];
  } catch (err) {
    if (err instanceof PolicyValidationError) return reader.fail(err.message);
    throw err;
  }
}
