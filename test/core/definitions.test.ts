import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';
import type { FieldTable } from '../../src/codec/field-table.js';
import { isAllowed } from '../../src/core/authorization.js';
import { Broker } from '../../src/core/broker.js';
import type { DefinitionsJson, VhostDefinitionsJson } from '../../src/core/definitions-format.js';
import { Message } from '../../src/core/message.js';
import { createLogger } from '../../src/server/logger.js';
import { CONFIG_USER, openBroker, populate, removeBrokerDirs } from './definitions-helpers.js';

after(removeBrokerDirs);

function exported(broker: Awaited<ReturnType<typeof openBroker>>): DefinitionsJson {
  const result = broker.definitions.export();
  assert.ok(result);
  return result.definitions as DefinitionsJson;
}

/** The export without what legitimately differs between two brokers: the version fields. */
function withoutVersions(d: object): object {
  const { rabbit_version, rabbitmq_version, product_version, ...rest } = d as DefinitionsJson;
  return rest;
}

describe('definitions export', () => {
  it("writes every kind of object in RabbitMQ's shapes, sorted, leaving out what does not survive a restart", async () => {
    const broker = await openBroker();
    await populate(broker);
    const d = exported(broker);
    assert.deepEqual(Object.keys(d), [
      'rabbit_version',
      'rabbitmq_version',
      'product_name',
      'product_version',
      'users',
      'vhosts',
      'permissions',
      'topic_permissions',
      'parameters',
      'global_parameters',
      'policies',
      'queues',
      'exchanges',
      'bindings',
    ]);
    assert.equal(d.product_name, 'EventterMQ');
    assert.deepEqual(
      d.users.map((u) => [u.name, u.hashing_algorithm]),
      [
        ['alice', 'eventter_password_hashing_scrypt'],
        ['bob', 'rabbit_password_hashing_sha256'],
        ['guest', 'eventter_password_hashing_scrypt'],
        ['robot', undefined],
      ],
    );
    const bob = d.users.find((u) => u.name === 'bob');
    assert.deepEqual(bob?.limits, { 'max-channels': 20, 'max-connections': 5 });
    assert.match(bob?.password_hash ?? '', /^[A-Za-z0-9+/]+=*$/, 'RabbitMQ form: the bare base64');
    assert.deepEqual(d.vhosts, [
      { name: '/', description: '', tags: [] },
      { name: 'empty', description: '', tags: [] },
      { name: 'shop', description: 'The shop', tags: ['retail', 'eu'] },
    ]);
    assert.deepEqual(d.parameters, [
      { vhost: 'shop', component: 'vhost-limits', name: 'limits', value: { 'max-queues': 50 } },
    ]);
    assert.deepEqual(d.topic_permissions, [
      { user: 'bob', vhost: 'shop', exchange: 'amq.topic', write: '^orders\\.', read: '.*' },
      { user: 'bob', vhost: 'shop', exchange: 'orders', write: '^{username}\\.', read: '' },
    ]);
    assert.deepEqual(d.policies, [
      {
        vhost: 'shop',
        name: 'caps',
        pattern: '^work$',
        'apply-to': 'queues',
        definition: { 'max-length': 10, overflow: 'reject-publish' },
        priority: 3,
      },
    ]);
    assert.deepEqual(
      d.exchanges.map((x) => [x.name, x.type, x.auto_delete, x.internal]),
      [
        ['audit', 'headers', true, false],
        ['dlx', 'direct', false, true],
        ['later', 'x-delayed-message', false, false],
        ['orders', 'topic', false, false],
        ['unrouted', 'fanout', false, false],
      ],
      'durable ones only, no amq.*',
    );
    assert.deepEqual(d.exchanges.find((x) => x.name === 'orders')?.arguments, {
      'alternate-exchange': 'unrouted',
    });
    assert.deepEqual(
      d.queues.map((q) => [q.name, q.type, q.auto_delete]),
      [
        ['dead', 'classic', false],
        ['events', 'stream', false],
        ['orders.eu', 'classic', false],
        ['unrouted.q', 'classic', true],
        ['work', 'quorum', false],
      ],
      'no transient or exclusive queues',
    );
    assert.deepEqual(d.queues.find((q) => q.name === 'orders.eu')?.arguments, {
      'x-custom': { nested: [1, 'two', true, null] },
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'dead',
      'x-max-length': 1000,
      'x-message-ttl': 60000,
      'x-overflow': 'reject-publish',
    });
    assert.deepEqual(
      d.bindings.map((b) => [b.source, b.destination_type, b.destination, b.routing_key]),
      [
        ['amq.topic', 'queue', 'dead', 'bob.#'],
        ['audit', 'queue', 'events', ''],
        ['dlx', 'queue', 'dead', 'dead'],
        ['orders', 'exchange', 'audit', 'eu.audit.*'],
        ['orders', 'queue', 'orders.eu', 'eu.#'],
        ['orders', 'queue', 'orders.eu', 'eu.#'],
        ['unrouted', 'queue', 'unrouted.q', ''],
      ],
    );
    await broker.close();
  });

  it('writes config-file users without a hash, and says so', async () => {
    const broker = await openBroker({ users: [CONFIG_USER] });
    const result = broker.definitions.export();
    assert.ok(result);
    const user = (result.definitions as DefinitionsJson).users.find((u) => u.name === 'deployer');
    assert.deepEqual(user, { name: 'deployer', tags: ['monitoring'], limits: {} });
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0], /without a password hash.*deployer/);
    await broker.close();
  });

  it("writes one vhost in RabbitMQ's per-vhost shape", async () => {
    const broker = await openBroker();
    await populate(broker);
    const result = broker.definitions.export('shop');
    assert.ok(result);
    const d = result.definitions as VhostDefinitionsJson;
    assert.deepEqual(Object.keys(d), [
      'rabbit_version',
      'rabbitmq_version',
      'product_name',
      'product_version',
      'parameters',
      'policies',
      'queues',
      'exchanges',
      'bindings',
    ]);
    for (const item of [...d.queues, ...d.exchanges, ...d.bindings]) assert.equal(item.vhost, undefined);
    assert.equal(d.queues.length, 5);
    assert.equal(broker.definitions.export('nope'), undefined);
    await broker.close();
  });
});

describe('definitions round trip', () => {
  it('an export imported into a fresh data directory exports the same JSON', async () => {
    const source = await openBroker();
    await populate(source);
    const first = exported(source);
    const target = await openBroker();
    const report = await target.definitions.import(JSON.parse(JSON.stringify(first)));
    assert.deepEqual(report.warnings, []);
    assert.deepEqual(withoutVersions(exported(target)), withoutVersions(first));
    assert.equal(report.counts.queues.created, 5);
    assert.equal(report.counts.bindings.created, 7);

    // Again: everything exists and equals the file, so nothing changes.
    const again = await target.definitions.import(first);
    for (const [category, counts] of Object.entries(again.counts)) {
      assert.equal(counts.created + counts.updated, 0, `${category} changed on a second import`);
    }
    assert.deepEqual(withoutVersions(exported(target)), withoutVersions(first));

    // And it survives a restart of the target.
    await target.close();
    const reopened = await Broker.open(target.options, createLogger('silent'));
    assert.deepEqual(withoutVersions(exported(reopened)), withoutVersions(first));
    await reopened.close();
    await source.close();
  });

  it('imported users log in with their passwords and get the permissions the file gave them', async () => {
    const source = await openBroker();
    await populate(source);
    const target = await openBroker();
    await target.definitions.import(exported(source));
    const alice = await target.authenticate('alice', 'alice-secret', '10.0.0.1');
    const bob = await target.authenticate('bob', 'bob-secret', '10.0.0.1');
    assert.ok(alice && bob);
    assert.equal(await target.authenticate('bob', 'wrong', '10.0.0.1'), undefined);
    assert.equal(await target.authenticate('robot', '', '10.0.0.1'), undefined, 'no password, no login');
    const queue = (name: string) => ({ kind: 'queue' as const, vhost: 'shop', name });
    assert.equal(isAllowed(alice, 'configure', queue('alice.tmp')), true);
    assert.equal(isAllowed(alice, 'configure', queue('orders.eu')), false);
    assert.equal(isAllowed(bob, 'write', { kind: 'exchange', vhost: 'shop', name: 'orders' }), true);
    assert.equal(isAllowed(bob, 'read', queue('orders.eu')), false);
    assert.equal(alice.permissions('/'), undefined, 'no access to vhosts the file gave none');
    assert.equal(bob.topicPermissions('shop', 'amq.topic')?.allows('write', 'orders.new'), true);
    assert.equal(bob.topicPermissions('shop', 'orders')?.allows('write', 'bob.x'), true);
    assert.equal(bob.topicPermissions('shop', 'orders')?.allows('write', 'alice.x'), false);
    assert.deepEqual(bob.limits(), { 'max-connections': 5, 'max-channels': 20 });
    assert.match(
      target.users.passwordHashOf('bob') ?? '',
      /^scrypt:/,
      "bob's login upgraded his RabbitMQ hash",
    );
    const again = await target.definitions.import(exported(source));
    assert.deepEqual(
      again.counts.users,
      { created: 0, updated: 0, unchanged: 4 },
      'the upgrade is no change',
    );
    await source.close();
    await target.close();
  });

  it('the imported topology routes: alternate exchange, exchange-to-exchange, headers, policies', async () => {
    const source = await openBroker();
    await populate(source);
    const target = await openBroker();
    await target.definitions.import(exported(source));
    const shop = target.vhost('shop');
    assert.ok(shop);
    const routed = (exchange: string, routingKey: string, headers?: FieldTable) => {
      const properties = encodeBasicProperties(headers === undefined ? {} : { headers });
      const message = Message.fromPublish(exchange, routingKey, properties, Buffer.from('x'), Date.now());
      return shop
        .route(exchange, message)
        .map((q) => q.name)
        .sort();
    };
    assert.deepEqual(routed('orders', 'eu.new'), ['orders.eu']);
    assert.deepEqual(routed('orders', 'us.new'), ['unrouted.q'], 'through the alternate exchange');
    assert.deepEqual(routed('orders', 'eu.audit.x', { region: 'eu' }), ['events', 'orders.eu']);
    assert.deepEqual(routed('orders', 'eu.audit.x', { region: 'us' }), ['orders.eu']);
    assert.deepEqual(routed('amq.topic', 'bob.hi'), ['dead']);
    const work = shop.findQueue('work');
    assert.ok(work !== undefined && work.kind === 'queue');
    assert.equal(work.settings.queueType, 'quorum');
    assert.equal(work.settings.maxLength, 10, 'the imported policy applies to the imported queue');
    await source.close();
    await target.close();
  });

  it('imports one vhost into another (per-vhost format): the items follow the target', async () => {
    const source = await openBroker();
    await populate(source);
    const part = source.definitions.export('shop');
    assert.ok(part);
    await source.putVhost('shop-copy', {});
    const report = await source.definitions.import(part.definitions, 'shop-copy');
    assert.equal(report.counts.exchanges.created, 5);
    const copy = source.definitions.export('shop-copy');
    const original = part.definitions as VhostDefinitionsJson;
    const copied = copy?.definitions as VhostDefinitionsJson;
    assert.deepEqual(copied.queues, original.queues);
    assert.deepEqual(copied.exchanges, original.exchanges);
    assert.deepEqual(copied.bindings, original.bindings);
    assert.deepEqual(
      copied.policies.map((p) => p.vhost),
      ['shop-copy'],
    );
    assert.deepEqual(copied.parameters, [
      { vhost: 'shop-copy', component: 'vhost-limits', name: 'limits', value: { 'max-queues': 50 } },
    ]);
    await source.close();
  });
});
