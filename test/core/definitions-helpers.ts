import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Broker, type BrokerOptions, defaultBrokerOptions } from '../../src/core/broker.js';
import type { UserDefinition } from '../../src/core/users.js';
import { buildHttpApp } from '../../src/server/http-server.js';
import { createLogger } from '../../src/server/logger.js';
import { registerManagementRoutes } from '../../src/server/management-api.js';

const logger = createLogger('silent');
const dirs: string[] = [];

/** A broker on a fresh data directory (guest and "/" seeded, as a first start does). */
export async function openBroker(options: Partial<BrokerOptions> = {}): Promise<Broker> {
  const dataDir = await mkdtemp(join(tmpdir(), 'eventter-defs-'));
  dirs.push(dataDir);
  return Broker.open({ ...defaultBrokerOptions, fsync: false, ...options, dataDir }, logger);
}

/** The management HTTP API (policies and definitions) of a broker, not yet listening. */
export function managementApp(broker: Broker): FastifyInstance {
  const app = buildHttpApp({ logger, health: () => ({ status: 'ok', uptimeSeconds: 0 }) });
  registerManagementRoutes(app, {
    admin: broker.admin,
    authenticate: (user, password, address) => broker.authenticate(user, password, address),
    definitions: broker.definitions,
  });
  return app;
}

export async function removeBrokerDirs(): Promise<void> {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

/** RabbitMQ's rabbit_password_hashing_sha256 form: base64(salt ++ sha256(salt ++ password)). */
export function rabbitSha256(password: string, salt = Buffer.from([9, 8, 7, 6])): string {
  return Buffer.concat([salt, createHash('sha256').update(salt).update(password).digest()]).toString(
    'base64',
  );
}

export const CONFIG_USER: UserDefinition = {
  name: 'deployer',
  password: 'from-config',
  vhosts: ['/'],
  loopbackOnly: false,
  tags: ['monitoring'],
};

const owner = {};

/** Every kind of object a definitions file carries, plus things an export must leave out. */
export async function populate(broker: Broker): Promise<void> {
  await broker.putVhost('shop', {
    description: 'The shop',
    tags: ['retail', 'eu'],
    limits: { 'max-queues': 50 },
  });
  await broker.putVhost('empty', {});
  await broker.users.putUser('alice', { password: 'alice-secret', tags: ['management'] });
  await broker.users.putUser('bob', {
    passwordHash: `rabbit-sha256:${rabbitSha256('bob-secret')}`,
    limits: { 'max-connections': 5, 'max-channels': 20 },
  });
  await broker.users.putUser('robot', { tags: ['impersonator'] }); // no password: EXTERNAL only
  await broker.users.setPermissions('alice', 'shop', { configure: '^alice\\.', write: '.*', read: '.*' });
  await broker.users.setPermissions('bob', 'shop', { configure: '', write: '^orders$', read: '^bob\\.' });
  await broker.users.setPermissions('guest', 'shop', { configure: '.*', write: '.*', read: '.*' });
  await broker.users.setTopicPermissions('bob', 'shop', 'amq.topic', { write: '^orders\\.', read: '.*' });
  await broker.users.setTopicPermissions('bob', 'shop', 'orders', { write: '^{username}\\.', read: '' });
  await broker.policies.set({
    vhost: 'shop',
    name: 'caps',
    pattern: '^work$',
    applyTo: 'queues',
    priority: 3,
    definition: { 'max-length': 10, overflow: 'reject-publish' },
  });
  const shop = broker.vhost('shop');
  if (!shop) throw new Error('no shop');
  await shop.declareExchange('unrouted', 'fanout', { durable: true });
  await shop.declareExchange('orders', 'topic', {
    durable: true,
    arguments: { 'alternate-exchange': 'unrouted' },
  });
  await shop.declareExchange('dlx', 'direct', { durable: true, internal: true });
  await shop.declareExchange('audit', 'headers', { durable: true, autoDelete: true });
  await shop.declareExchange('later', 'x-delayed-message', {
    durable: true,
    arguments: { 'x-delayed-type': 'direct' },
  });
  await shop.declareExchange('transient', 'direct', { durable: false });
  await shop.declareQueue('orders.eu', {
    durable: true,
    owner,
    arguments: {
      'x-message-ttl': 60000,
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'dead',
      'x-max-length': 1000,
      'x-overflow': 'reject-publish',
      'x-custom': { nested: [1, 'two', true, null] },
    },
  });
  await shop.declareQueue('dead', { durable: true, owner });
  await shop.declareQueue('unrouted.q', { durable: true, autoDelete: true, owner });
  await shop.declareQueue('work', {
    durable: true,
    owner,
    arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3 },
  });
  await shop.declareQueue('events', {
    durable: true,
    owner,
    arguments: { 'x-queue-type': 'stream', 'x-max-age': '7D' },
  });
  await shop.declareQueue('scratch', { durable: false, owner });
  await shop.declareQueue('mine', { durable: true, exclusive: true, owner });
  await shop.bindQueue('orders.eu', 'orders', 'eu.#', {}, owner);
  await shop.bindQueue('orders.eu', 'orders', 'eu.#', { 'x-priority-hint': 1 }, owner);
  await shop.bindQueue('dead', 'dlx', 'dead', {}, owner);
  await shop.bindQueue('unrouted.q', 'unrouted', '', {}, owner);
  await shop.bindQueue('events', 'audit', '', { 'x-match': 'any', region: 'eu', urgent: true }, owner);
  await shop.bindQueue('dead', 'amq.topic', 'bob.#', {}, owner);
  await shop.bindExchange('audit', 'orders', 'eu.audit.*', {});
  await shop.bindQueue('scratch', 'orders', 'eu.#', {}, owner); // non-durable end: not exported
  await shop.bindQueue('mine', 'orders', 'eu.#', {}, owner); // exclusive end: not exported
  await shop.bindQueue('dead', 'transient', 'x', {}, owner); // non-durable source: not exported
}
