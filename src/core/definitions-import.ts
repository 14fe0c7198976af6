import type { Broker } from './broker.js';
import { ProblemList, quote } from './definitions-fields.js';
import { argumentsToJson, canonicalJson, DefinitionsError } from './definitions-format.js';
import { type DefinitionsPlan, type PlannedUser, planDefinitions } from './definitions-plan.js';
import type { PlannedBinding, PlannedExchange, PlannedQueue } from './definitions-topology.js';
import { BrokerError } from './errors.js';
import type { ExchangeType } from './exchange.js';
import { builtinExchanges } from './vhost.js';
import { bindingKey } from './vhost-definitions.js';

/**
 * Importing a definitions file: read and check all of it (definitions-plan.ts), check it against the broker
 * (every vhost, user, exchange and queue it refers to exists or comes with it; nothing it declares clashes
 * with what exists), and only then apply it, in dependency order. Applying is idempotent: what exists and
 * equals the file is left alone, so importing the same file twice changes nothing the second time.
 *
 * What exists and differs:
 * - users, permissions, topic permissions, policies, vhost metadata and limits take the file's values, as
 *   RabbitMQ's import does (the file is the source of truth for settings);
 * - an exchange or queue with other properties is refused, naming it: it cannot change without being deleted
 *   (a queue with its messages). RabbitMQ keeps the existing one silently, leaving the file half applied.
 * - config-file users cannot change at run time: an entry for one must match it.
 */

export const IMPORT_CATEGORIES = [
  'vhosts',
  'users',
  'permissions',
  'topic_permissions',
  'parameters',
  'policies',
  'exchanges',
  'queues',
  'bindings',
] as const;
export type ImportCategory = (typeof IMPORT_CATEGORIES)[number];

export interface ImportCounts {
  created: number;
  updated: number;
  unchanged: number;
}

export interface ImportReport {
  counts: Record<ImportCategory, ImportCounts>;
  warnings: string[];
}

/** Owner of the queues an import declares: never exclusive, so no connection is involved. */
const IMPORT_OWNER = {};
/** Items applied at once; bounds the declares in flight (each opens a queue store). */
const APPLY_BATCH = 256;
const BUILTIN_TYPES = new Map<string, ExchangeType>(builtinExchanges);

/**
 * Imports a parsed definitions file. With `vhost`, it is RabbitMQ's per-vhost import: exchanges, queues,
 * bindings, policies and limits go into that (existing) vhost whatever vhost the items name.
 * Throws DefinitionsError, listing every problem, when anything is wrong; then nothing was changed.
 */
export async function importDefinitions(
  broker: Broker,
  input: unknown,
  options: { vhost?: string } = {},
): Promise<ImportReport> {
  if (options.vhost !== undefined && broker.vhost(options.vhost) === undefined) {
    throw new DefinitionsError([
      `vhost ${quote(options.vhost)} does not exist: create it before importing into it`,
    ]);
  }
  const plan = planDefinitions(input, options);
  const problems = new ProblemList();
  checkAgainstBroker(broker, plan, problems);
  if (problems.problems.length > 0) throw new DefinitionsError(problems.all());
  const counts = Object.fromEntries(
    IMPORT_CATEGORIES.map((c) => [c, { created: 0, updated: 0, unchanged: 0 }]),
  ) as Record<ImportCategory, ImportCounts>;
  await applyPlan(broker, plan, counts);
  return { counts, warnings: plan.warnings };
}

// --- checks against the broker -------------------------------------------------------------------------

function checkAgainstBroker(broker: Broker, plan: DefinitionsPlan, problems: ProblemList): void {
  const vhosts = new Set([...broker.listVhosts().map((v) => v.name), ...plan.vhosts.map((v) => v.name)]);
  const users = new Set([...broker.users.listUsers().map((u) => u.name), ...plan.users.map((u) => u.name)]);
  const needVhost = (what: string, vhost: string): boolean => {
    if (vhosts.has(vhost)) return true;
    problems.add(`${what}: vhost ${quote(vhost)} does not exist and is not in the file`);
    return false;
  };
  const needUser = (what: string, user: string) => {
    if (!users.has(user)) problems.add(`${what}: user ${quote(user)} does not exist and is not in the file`);
  };
  for (const l of plan.vhostLimits) needVhost(`limits of vhost ${quote(l.vhost)}`, l.vhost);
  for (const u of plan.users) checkConfigUser(broker, u, problems);
  for (const p of plan.permissions) {
    const what = `permissions of user ${quote(p.user)} in vhost ${quote(p.vhost)}`;
    needUser(what, p.user);
    needVhost(what, p.vhost);
  }
  for (const p of plan.topicPermissions) {
    const what = `topic permissions of user ${quote(p.user)} in vhost ${quote(p.vhost)}`;
    needUser(what, p.user);
    needVhost(what, p.vhost);
  }
  for (const p of plan.policies) needVhost(`policy ${quote(p.name)}`, p.vhost);
  for (const x of plan.exchanges) {
    if (needVhost(`exchange ${quote(x.name)}`, x.vhost)) checkExchange(broker, x, problems);
  }
  for (const q of plan.queues) {
    if (needVhost(`queue ${quote(q.name)}`, q.vhost)) checkQueue(broker, q, problems);
  }
  const index: PlanIndex = {
    exchangeTypes: new Map(plan.exchanges.map((x) => [key(x.vhost, x.name), x.type])),
    queues: new Set(plan.queues.map((q) => key(q.vhost, q.name))),
  };
  for (const b of plan.bindings) {
    if (needVhost(`binding of exchange ${quote(b.source)}`, b.vhost))
      checkBinding(broker, index, b, problems);
  }
}

function checkConfigUser(broker: Broker, u: PlannedUser, problems: ProblemList): void {
  if (broker.users.getUser(u.name)?.source !== 'config' || configUserMatches(broker, u)) return;
  problems.add(
    `user ${quote(u.name)}: defined in the config file, which the import cannot change; the file's entry differs (leave it out, or change the config file)`,
  );
}

/** A config-file user's entry matches when it says nothing the config does not (our own exports of it do). */
function configUserMatches(broker: Broker, u: PlannedUser): boolean {
  const existing = broker.users.getUser(u.name);
  if (!existing) return false;
  const passwordSame =
    u.password.kind === 'keep' ||
    (u.password.kind === 'hash' && broker.users.holdsPasswordHash(u.name, u.password.stored));
  const limitsSame = u.limits === undefined || canonicalJson(u.limits) === canonicalJson(existing.limits);
  return passwordSame && limitsSame && canonicalJson(u.tags) === canonicalJson(existing.tags);
}

function differences(pairs: Array<[string, unknown, unknown]>): string {
  return pairs
    .filter(([, here, file]) => canonicalJson(here) !== canonicalJson(file))
    .map(([what, here, file]) => `${what} ${canonicalJson(here)} here, ${canonicalJson(file)} in the file`)
    .join('; ');
}

const clash = (what: string, diff: string) =>
  `${what} exists with other properties (${diff}); delete it first, or change the file`;

function checkExchange(broker: Broker, x: PlannedExchange, problems: ProblemList): void {
  const existing = broker.vhost(x.vhost)?.findExchange(x.name);
  if (!existing) return;
  const diff = differences([
    ['type', existing.type, x.type],
    ['durable', existing.durable, x.durable],
    ['auto_delete', existing.autoDelete, x.autoDelete],
    ['internal', existing.internal, x.internal],
    ['arguments', argumentsToJson(existing.arguments), argumentsToJson(x.arguments)],
  ]);
  if (diff !== '') problems.add(clash(`exchange ${quote(x.name)} in vhost ${quote(x.vhost)}`, diff));
}

function checkQueue(broker: Broker, q: PlannedQueue, problems: ProblemList): void {
  const existing = broker.vhost(q.vhost)?.findQueue(q.name);
  if (!existing) return;
  const what = `queue ${quote(q.name)} in vhost ${quote(q.vhost)}`;
  if (existing.exclusiveOwner !== null) {
    problems.add(`${what} exists as an exclusive queue of a connection`);
    return;
  }
  const diff = differences([
    ['type', existing.kind === 'stream' ? 'stream' : existing.settings.queueType, q.type],
    ['durable', existing.durable, q.durable],
    ['auto_delete', existing.autoDelete, q.autoDelete],
    ['arguments', argumentsToJson(existing.arguments), argumentsToJson(q.arguments)],
  ]);
  if (diff !== '') problems.add(clash(what, diff));
}

/** The file's exchanges and queues by vhost and name, for the bindings' checks. */
interface PlanIndex {
  exchangeTypes: Map<string, ExchangeType>;
  queues: Set<string>;
}

const key = (vhost: string, name: string) => `${vhost}\u0000${name}`;

/** The type an exchange will have once the file is applied, or undefined when it will not exist. */
function exchangeTypeAfter(broker: Broker, index: PlanIndex, vhost: string, name: string) {
  return (
    index.exchangeTypes.get(key(vhost, name)) ??
    broker.vhost(vhost)?.findExchange(name)?.type ??
    BUILTIN_TYPES.get(name)
  );
}

function checkBinding(broker: Broker, index: PlanIndex, b: PlannedBinding, problems: ProblemList): void {
  const what = `binding of exchange ${quote(b.source)} to ${b.destinationType} ${quote(b.destination)} in vhost ${quote(b.vhost)}`;
  const sourceType = exchangeTypeAfter(broker, index, b.vhost, b.source);
  if (sourceType === undefined)
    problems.add(`${what}: exchange ${quote(b.source)} does not exist and is not in the file`);
  if (b.destinationType === 'exchange') {
    if (exchangeTypeAfter(broker, index, b.vhost, b.destination) === undefined)
      problems.add(`${what}: exchange ${quote(b.destination)} does not exist and is not in the file`);
  } else {
    const existing = broker.vhost(b.vhost)?.findQueue(b.destination);
    const planned = index.queues.has(key(b.vhost, b.destination));
    if (!existing && !planned)
      problems.add(`${what}: queue ${quote(b.destination)} does not exist and is not in the file`);
    if (existing && existing.exclusiveOwner !== null)
      problems.add(`${what}: the queue is exclusive to a connection`);
  }
  const mode = b.arguments['x-match'];
  const routesBy = sourceType === 'x-delayed-message' ? undefined : sourceType;
  if (
    routesBy === 'headers' &&
    mode !== undefined &&
    !['all', 'any', 'all-with-x', 'any-with-x'].includes(mode as string)
  )
    problems.add(`${what}: x-match must be all, any, all-with-x or any-with-x`);
}

// --- applying --------------------------------------------------------------------------------------------

async function applyPlan(
  broker: Broker,
  plan: DefinitionsPlan,
  counts: Record<ImportCategory, ImportCounts>,
): Promise<void> {
  const step = async (category: ImportCategory, what: string, run: () => Promise<keyof ImportCounts>) => {
    try {
      counts[category][await run()]++;
    } catch (err) {
      // The checks are meant to catch every refusal; one they missed still names the item.
      if (err instanceof BrokerError || err instanceof DefinitionsError) {
        throw new DefinitionsError([
          `${what}: ${err instanceof BrokerError ? err.text : err.message} (other items were applied; importing the file again, once corrected, finishes it)`,
        ]);
      }
      throw err;
    }
  };
  const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

  for (const v of plan.vhosts) {
    await step('vhosts', `vhost ${quote(v.name)}`, async () => {
      const existing = broker.vhostInfo(v.name);
      if (existing && existing.description === v.description && same(existing.tags, v.tags))
        return 'unchanged';
      return broker.putVhost(v.name, { description: v.description, tags: v.tags });
    });
  }
  for (const l of plan.vhostLimits) {
    await step('parameters', `limits of vhost ${quote(l.vhost)}`, async () => {
      const existing = broker.vhostInfo(l.vhost)?.limits ?? {};
      if (same(existing, l.limits)) return 'unchanged';
      await broker.putVhost(l.vhost, { limits: l.limits });
      return Object.keys(existing).length === 0 ? 'created' : 'updated';
    });
  }
  await inBatches(plan.users, (u) => step('users', `user ${quote(u.name)}`, () => applyUser(broker, u)));
  await inBatches(plan.permissions, (p) =>
    step('permissions', `permissions of user ${quote(p.user)} in vhost ${quote(p.vhost)}`, async () => {
      const existing = broker.users.principal(p.user)?.permissions(p.vhost)?.source;
      const patterns = { configure: p.configure, write: p.write, read: p.read };
      if (existing && same(existing, patterns)) return 'unchanged';
      await broker.users.setPermissions(p.user, p.vhost, patterns);
      return existing ? 'updated' : 'created';
    }),
  );
  await inBatches(plan.topicPermissions, (p) => {
    const what = `topic permissions of user ${quote(p.user)} in vhost ${quote(p.vhost)} on ${quote(p.exchange)}`;
    return step('topic_permissions', what, async () => {
      const existing = broker.users.principal(p.user)?.topicPermissions(p.vhost, p.exchange)?.source;
      const patterns = { write: p.write, read: p.read };
      if (existing && same(existing, patterns)) return 'unchanged';
      await broker.users.setTopicPermissions(p.user, p.vhost, p.exchange, patterns);
      return existing ? 'updated' : 'created';
    });
  });
  for (const p of plan.policies) {
    await step('policies', `policy ${quote(p.name)} in vhost ${quote(p.vhost)}`, async () => {
      const existing = broker.policies.get(p.vhost, p.name);
      if (existing && same(existing, p)) return 'unchanged';
      return (await broker.policies.set(p)) ? 'created' : 'updated';
    });
  }
  await inBatches(plan.exchanges, (x) =>
    step('exchanges', `exchange ${quote(x.name)} in vhost ${quote(x.vhost)}`, async () => {
      const vhost = broker.vhost(x.vhost);
      if (!vhost) throw new DefinitionsError([`vhost ${quote(x.vhost)} is gone`]);
      if (vhost.findExchange(x.name)) return 'unchanged';
      await vhost.declareExchange(x.name, x.type, x);
      return 'created';
    }),
  );
  await inBatches(plan.queues, (q) =>
    step('queues', `queue ${quote(q.name)} in vhost ${quote(q.vhost)}`, async () => {
      const vhost = broker.vhost(q.vhost);
      if (!vhost) throw new DefinitionsError([`vhost ${quote(q.vhost)} is gone`]);
      if (vhost.findQueue(q.name)) return 'unchanged';
      await vhost.declareQueue(q.name, { ...q, exclusive: false, owner: IMPORT_OWNER });
      return 'created';
    }),
  );
  await inBatches(plan.bindings, (b) => {
    const what = `binding of exchange ${quote(b.source)} to ${b.destinationType} ${quote(b.destination)} in vhost ${quote(b.vhost)}`;
    return step('bindings', what, () => applyBinding(broker, b));
  });
}

/**
 * Applies items of one kind a batch at a time: the metadata store makes one durable write of all the changes
 * of a tick, so a batch costs about one fsync instead of one each.
 */
async function inBatches<T>(items: readonly T[], apply: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += APPLY_BATCH) {
    const results = await Promise.allSettled(items.slice(i, i + APPLY_BATCH).map(apply));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

async function applyUser(broker: Broker, u: PlannedUser): Promise<keyof ImportCounts> {
  const existing = broker.users.getUser(u.name);
  if (existing?.source === 'config') return 'unchanged'; // checked: the entry matches the config
  const hash = broker.users.passwordHashOf(u.name);
  const passwordSame =
    u.password.kind === 'keep' ||
    (u.password.kind === 'hash' && broker.users.holdsPasswordHash(u.name, u.password.stored)) ||
    (u.password.kind === 'none' && hash === undefined);
  const limitsSame = u.limits === undefined || canonicalJson(u.limits) === canonicalJson(existing?.limits);
  if (existing && passwordSame && limitsSame && canonicalJson(existing.tags) === canonicalJson(u.tags))
    return 'unchanged';
  const password =
    u.password.kind === 'hash'
      ? { passwordHash: u.password.stored }
      : u.password.kind === 'plain'
        ? { password: u.password.password }
        : u.password.kind === 'none'
          ? { passwordHash: '' }
          : {};
  return broker.users.putUser(u.name, { ...password, tags: u.tags, limits: u.limits });
}

async function applyBinding(broker: Broker, b: PlannedBinding): Promise<keyof ImportCounts> {
  const vhost = broker.vhost(b.vhost);
  const source = vhost?.findExchange(b.source);
  const destination =
    b.destinationType === 'queue' ? vhost?.findQueue(b.destination) : vhost?.findExchange(b.destination);
  if (!vhost || !source || !destination) throw new DefinitionsError(['an end of it is gone']);
  if (source.hasBinding(destination, bindingKey(b.routingKey, b.arguments))) return 'unchanged';
  if (b.destinationType === 'queue')
    await vhost.bindQueue(b.destination, b.source, b.routingKey, b.arguments, IMPORT_OWNER);
  else await vhost.bindExchange(b.destination, b.source, b.routingKey, b.arguments);
  return 'created';
}
