import { AUDIT_VHOST } from './audit-stream.js';
import type { Broker } from './broker.js';
import {
  argumentsToJson,
  type BindingJson,
  compareText,
  DEFINITIONS_FORMAT_VERSION,
  type DefinitionsJson,
  type ExchangeJson,
  type JsonObject,
  type ParameterJson,
  type PolicyJson,
  PRODUCT_NAME,
  type QueueJson,
  type UserJson,
  type VhostDefinitionsJson,
} from './definitions-format.js';
import type { Binding, Exchange } from './exchange.js';
import { toRabbitHash } from './password-hash.js';
import { PRODUCT_VERSION } from './product-version.js';
import type { VHost } from './vhost.js';

/**
 * The broker's definitions in RabbitMQ's format, for `rabbitmqctl import_definitions`, RabbitMQ's HTTP API or
 * another EventterMQ. Only what survives a restart: durable exchanges and queues (not exclusive ones), the
 * bindings between durable ends. The default exchange and the built-in amq.* exchanges are left out (every
 * broker has them); bindings from amq.* exchanges are kept. Output is sorted, so an export of the same
 * broker state is the same text.
 */

export interface DefinitionsExport<T> {
  definitions: T;
  /** What the file cannot carry, for the operator (e.g. users exported without a password hash). */
  warnings: string[];
}

function header() {
  return {
    rabbit_version: DEFINITIONS_FORMAT_VERSION,
    rabbitmq_version: DEFINITIONS_FORMAT_VERSION,
    product_name: PRODUCT_NAME,
    product_version: PRODUCT_VERSION,
  };
}

/** Everything: users, vhosts, permissions, limits, policies, exchanges, queues and bindings. */
export function exportDefinitions(broker: Broker): DefinitionsExport<DefinitionsJson> {
  const warnings: string[] = [];
  // The audit vhost is the broker's own record of administration, not topology: it stays behind.
  const vhostInfos = broker.listVhosts().filter((v) => v.name !== AUDIT_VHOST);
  const vhostNames = vhostInfos.map((v) => v.name);
  const exists = new Set(vhostNames);
  const users: UserJson[] = [];
  const passwordless: string[] = [];
  for (const user of broker.users.listUsers()) {
    const hash = broker.users.passwordHashOf(user.name);
    const entry: UserJson = {
      name: user.name,
      ...(hash === undefined ? {} : toRabbitHash(hash)),
      tags: user.tags,
      limits: sortedObject(user.limits),
    };
    if (hash === undefined && user.source === 'config') passwordless.push(user.name);
    users.push(entry);
  }
  if (passwordless.length > 0) {
    warnings.push(
      `config-file users with plain passwords are exported without a password hash (the file cannot carry the password): ${passwordless.join(', ')}`,
    );
  }
  const perVhost = vhostNames.map((name) => vhostParts(broker, name, true));
  return {
    definitions: {
      ...header(),
      users,
      vhosts: vhostInfos.map((v) => ({ name: v.name, description: v.description, tags: [...v.tags] })),
      // Permissions can outlive their vhost only for config-file users (whose vhosts the config lists).
      permissions: broker.users
        .listPermissions()
        .filter((p) => exists.has(p.vhost))
        .map((p) => ({ user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read })),
      topic_permissions: broker.users
        .listTopicPermissions()
        .filter((p) => exists.has(p.vhost))
        .map((p) => ({ user: p.user, vhost: p.vhost, exchange: p.exchange, write: p.write, read: p.read })),
      parameters: perVhost.flatMap((p) => p.parameters),
      global_parameters: [],
      policies: perVhost.flatMap((p) => p.policies),
      queues: perVhost.flatMap((p) => p.queues),
      exchanges: perVhost.flatMap((p) => p.exchanges),
      bindings: perVhost.flatMap((p) => p.bindings),
    },
    warnings,
  };
}

/**
 * One vhost's part (RabbitMQ's per-vhost format): queues, exchanges and bindings without their vhost field,
 * so the file can be imported into any vhost. Undefined when there is no such vhost.
 */
export function exportVhostDefinitions(
  broker: Broker,
  vhost: string,
): DefinitionsExport<VhostDefinitionsJson> | undefined {
  if (broker.vhost(vhost) === undefined) return undefined;
  const parts = vhostParts(broker, vhost, false);
  return { definitions: { ...header(), ...parts }, warnings: [] };
}

function vhostParts(broker: Broker, name: string, withVhost: boolean) {
  const vhost = broker.vhost(name) as VHost;
  const tag = withVhost ? { vhost: name } : {};
  const limits = broker.vhostInfo(name)?.limits ?? {};
  const parameters: ParameterJson[] =
    Object.keys(limits).length === 0
      ? []
      : [{ vhost: name, component: 'vhost-limits', name: 'limits', value: sortedObject(limits) }];
  const policies: PolicyJson[] = broker.policies.list(name).map((p) => ({
    vhost: name,
    name: p.name,
    pattern: p.pattern,
    'apply-to': p.applyTo,
    definition: sortedObject(p.definition),
    priority: p.priority,
  }));
  const exchanges: ExchangeJson[] = [...vhost.allExchanges()]
    .filter((ex) => ex.durable && !isBuiltinExchange(ex.name))
    .sort((a, b) => compareText(a.name, b.name))
    .map((ex) => ({
      name: ex.name,
      ...tag,
      type: ex.type,
      durable: true,
      auto_delete: ex.autoDelete,
      internal: ex.internal,
      arguments: argumentsToJson(ex.arguments),
    }));
  const queues: QueueJson[] = [...vhost.allQueues()]
    .filter((q) => q.durable && q.exclusiveOwner === null)
    .sort((a, b) => compareText(a.name, b.name))
    .map((q) => ({
      name: q.name,
      ...tag,
      type: q.kind === 'stream' ? 'stream' : q.settings.queueType,
      durable: true,
      auto_delete: q.autoDelete,
      arguments: argumentsToJson(q.arguments),
    }));
  const bindings: BindingJson[] = [...vhost.allExchanges()]
    .filter((ex) => ex.durable && ex.name !== '')
    .flatMap((ex) => ex.allBindings().filter(survivesRestart))
    .map((b) => ({
      source: b.source.name,
      ...tag,
      destination: b.destination.name,
      destination_type: b.destination.kind === 'exchange' ? ('exchange' as const) : ('queue' as const),
      routing_key: b.routingKey,
      arguments: argumentsToJson(b.arguments),
    }))
    .sort(compareBindings);
  return { parameters, policies, queues, exchanges, bindings };
}

export function isBuiltinExchange(name: string): boolean {
  return name === '' || name.startsWith('amq.');
}

/** A binding is kept across restarts when both ends are (an exclusive queue is not). */
function survivesRestart(b: Binding): boolean {
  const d = b.destination;
  return d.kind === 'exchange' ? (d as Exchange).durable : d.durable && d.exclusiveOwner === null;
}

function compareBindings(a: BindingJson, b: BindingJson): number {
  return (
    compareText(a.source, b.source) ||
    compareText(a.destination_type, b.destination_type) ||
    compareText(a.destination, b.destination) ||
    compareText(a.routing_key, b.routing_key) ||
    compareText(JSON.stringify(a.arguments), JSON.stringify(b.arguments))
  );
}

function sortedObject(value: object): JsonObject {
  const record = value as Record<string, JsonObject[string] | undefined>;
  const out: JsonObject = {};
  for (const key of Object.keys(record).sort(compareText)) {
    const v = record[key];
    if (v !== undefined) out[key] = v;
  }
  return out;
}
