import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Broker } from '../../src/core/broker.js';
import {
  DEFINITIONS_MAX_BYTES,
  DefinitionsError,
  parseDefinitionsText,
} from '../../src/core/definitions-format.js';
import { CONFIG_USER, openBroker, populate, rabbitSha256, removeBrokerDirs } from './definitions-helpers.js';

/**
 * Files an import must refuse, whole: each refusal names the item and the problem, and leaves the broker
 * exactly as it was. And the RabbitMQ quirks an import must accept.
 */

let broker: Broker;
before(async () => {
  broker = await openBroker({ users: [CONFIG_USER] });
  await populate(broker);
});
after(async () => {
  await broker.close();
  await removeBrokerDirs();
});

const snapshot = () => JSON.stringify(broker.definitions.export()?.definitions);

/** Imports a file that must be refused; checks the message and that nothing changed. */
async function refused(file: unknown, ...expected: RegExp[]): Promise<string> {
  const before = snapshot();
  const err = await broker.definitions.import(file).then(
    () => assert.fail('the import was accepted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DefinitionsError, String(err));
  for (const pattern of expected) assert.match(err.message, pattern);
  assert.equal(snapshot(), before, 'a refused import changes nothing');
  return err.message;
}

const queue = (fields: Record<string, unknown>) => ({
  queues: [{ name: 'q.new', vhost: 'shop', durable: true, auto_delete: false, arguments: {}, ...fields }],
});
const user = (fields: Record<string, unknown>) => ({ users: [{ name: 'carol', tags: [], ...fields }] });

describe('definitions import refuses, naming the item, and applies nothing', () => {
  it('a file that is not a JSON object, or not JSON, or too large', async () => {
    await refused([], /must hold a JSON object, not an array/);
    await refused({ queues: {} }, /queues must be a JSON array, not an object/);
    await refused({ queues: ['q'] }, /queues\[0\] must be a JSON object, not "q"/);
    assert.throws(() => parseDefinitionsText('{"queues": ['), /not valid JSON/);
    assert.throws(() => parseDefinitionsText(' '.repeat(DEFINITIONS_MAX_BYTES + 1)), /larger than 64 MiB/);
  });

  it('fields of the wrong type', async () => {
    await refused(queue({ name: 5 }), /queues\[0\]: name must be a string, not 5/);
    await refused(
      queue({ durable: 'yes' }),
      /queue 'q.new' in vhost 'shop': durable must be true or false, not "yes"/,
    );
    await refused(queue({ arguments: 'x-max-length=3' }), /queue 'q.new' .*arguments must be a JSON object/);
    await refused(
      queue({ arguments: { 'x-max-length': 'ten' } }),
      /invalid arg 'x-max-length' for queue 'q.new'/,
    );
    await refused(
      queue({ vhost: undefined }),
      /vhost is missing \(a per-vhost export\? import it into a vhost\)/,
    );
    await refused(
      { permissions: [{ user: 'alice', vhost: 'shop', configure: '.*', write: 1, read: '.*' }] },
      /permissions of user 'alice' in vhost 'shop': write must be a string/,
    );
  });

  it('exchange types and queue types EventterMQ does not have', async () => {
    await refused(
      { exchanges: [{ name: 'ring', vhost: 'shop', type: 'x-consistent-hash', durable: true }] },
      /exchange 'ring' in vhost 'shop': exchange type 'x-consistent-hash' is not supported \(EventterMQ has direct, fanout, topic, headers, x-delayed-message\)/,
    );
    await refused(
      { exchanges: [{ name: 'later2', vhost: 'shop', type: 'x-delayed-message', arguments: {} }] },
      /needs x-delayed-type/,
    );
    await refused(queue({ arguments: { 'x-queue-type': 'mqtt' } }), /queue type 'mqtt' is not supported/);
    await refused(
      queue({ type: 'stream' }),
      /type 'stream' disagrees with its x-queue-type argument 'classic'/,
    );
    await refused(
      queue({ durable: false, arguments: { 'x-queue-type': 'quorum' } }),
      /a quorum queue must be durable/,
    );
    await refused(
      queue({ arguments: { 'x-queue-type': 'stream', 'x-max-age': 'forever' } }),
      /invalid arg 'x-max-age'/,
    );
  });

  it('password hashes it cannot verify', async () => {
    await refused(
      user({ password_hash: rabbitSha256('x'), hashing_algorithm: 'rabbit_password_hashing_sha999' }),
      /user 'carol': hashing algorithm "rabbit_password_hashing_sha999" is not supported \(supported: rabbit_password_hashing_sha256, rabbit_password_hashing_sha512, rabbit_password_hashing_md5, eventter_password_hashing_scrypt\)/,
    );
    await refused(
      user({ password_hash: 'c2hvcnQ=', hashing_algorithm: 'rabbit_password_hashing_sha256' }),
      /user 'carol': password_hash is not a valid rabbit_password_hashing_sha256 hash: a rabbit-sha256 hash must decode to 36 bytes/,
    );
    await refused(user({ password_hash: 'not base64!' }), /user 'carol': password_hash is not base64/);
    await refused(
      user({ password_hash: 'scrypt:x', hashing_algorithm: 'eventter_password_hashing_scrypt' }),
      /user 'carol': password_hash is not a valid eventter_password_hashing_scrypt hash/,
    );
    await refused(
      user({ password: 'pw', password_hash: rabbitSha256('pw') }),
      /has both password and password_hash/,
    );
  });

  it('names over the bounds', async () => {
    const long = 'q'.repeat(256);
    await refused(queue({ name: long }), /queues\[0\]: name is longer than 255 bytes/);
    await refused(
      { exchanges: [{ name: 'é'.repeat(128), vhost: 'shop', type: 'direct' }] },
      /exchanges\[0\]: name is longer than 255 bytes/,
    );
    await refused({ vhosts: [{ name: 'v'.repeat(256) }] }, /a vhost name must be at most 255 bytes/);
    await refused(user({ name: 'u'.repeat(256) }), /a user name must be at most 255 characters/);
    await refused(
      {
        bindings: [
          {
            source: 'orders',
            vhost: 'shop',
            destination: 'dead',
            destination_type: 'queue',
            routing_key: 'k'.repeat(256),
          },
        ],
      },
      /routing_key is longer than 255 bytes/,
    );
    await refused(queue({ name: 'a\u0000b' }), /name must not contain NUL characters/);
  });

  it('permission patterns that could backtrack catastrophically', async () => {
    await refused(
      { permissions: [{ user: 'alice', vhost: 'shop', configure: '(a+)+$', write: '.*', read: '.*' }] },
      /permissions of user 'alice' in vhost 'shop': pattern "\(a\+\)\+\$" repeats a group/,
    );
    await refused(
      {
        topic_permissions: [
          { user: 'bob', vhost: 'shop', exchange: 'amq.topic', write: '(x|xy)*z', read: '' },
        ],
      },
      /topic permissions of user 'bob' in vhost 'shop' on exchange 'amq.topic': pattern/,
    );
    await refused(
      { permissions: [{ user: 'alice', vhost: 'shop', configure: '[', write: '.*', read: '.*' }] },
      /is not a valid regular expression/,
    );
  });

  it('settings it does not have: runtime parameters, policy keys, limits', async () => {
    await refused(
      {
        parameters: [
          { vhost: 'shop', component: 'federation-upstream', name: 'up', value: { uri: 'amqp://x' } },
        ],
      },
      /parameter 'up' of component 'federation-upstream' in vhost 'shop': runtime parameters of component 'federation-upstream' are not supported/,
    );
    await refused(
      {
        parameters: [
          { vhost: 'shop', component: 'vhost-limits', name: 'limits', value: { 'max-bananas': 1 } },
        ],
      },
      /unknown limit 'max-bananas'/,
    );
    await refused(
      {
        policies: [{ vhost: 'shop', name: 'mem', pattern: '.*', definition: { 'max-in-memory-length': 5 } }],
      },
      /policy 'mem' in vhost 'shop': "max-in-memory-length" is a RabbitMQ policy key EventterMQ does not support/,
    );
    await refused(
      user({ limits: { 'max-connections': 'many' } }),
      /limit 'max-connections' must be an integer/,
    );
  });

  it('references to what neither exists nor is in the file', async () => {
    await refused(
      { permissions: [{ user: 'nobody', vhost: 'shop', configure: '', write: '', read: '' }] },
      /permissions of user 'nobody' in vhost 'shop': user 'nobody' does not exist and is not in the file/,
    );
    await refused(
      queue({ vhost: 'nowhere' }),
      /queue 'q.new': vhost 'nowhere' does not exist and is not in the file/,
    );
    await refused(
      {
        bindings: [
          {
            source: 'orders',
            vhost: 'shop',
            destination: 'ghost',
            destination_type: 'queue',
            routing_key: '',
          },
        ],
      },
      /binding of exchange 'orders' to queue 'ghost' in vhost 'shop': queue 'ghost' does not exist/,
    );
    await refused(
      { bindings: [{ source: 'amq.nope', vhost: 'shop', destination: 'dead', destination_type: 'queue' }] },
      /exchange 'amq.nope' does not exist/,
    );
    await refused(
      {
        bindings: [
          {
            source: 'audit',
            vhost: 'shop',
            destination: 'dead',
            destination_type: 'queue',
            arguments: { 'x-match': 'some' },
          },
        ],
      },
      /x-match must be all, any, all-with-x or any-with-x/,
    );
    const err = await broker.definitions.import({}, 'nowhere').catch((e: Error) => e);
    assert.match(String(err), /vhost 'nowhere' does not exist: create it before importing into it/);
  });

  it('exchanges and queues that exist with other properties, and config-file users that differ', async () => {
    await refused(
      { queues: [{ name: 'orders.eu', vhost: 'shop', durable: true, arguments: { 'x-max-length': 5 } }] },
      /queue 'orders.eu' in vhost 'shop' exists with other properties \(arguments .* here, \{"x-max-length":5\} in the file\); delete it first, or change the file/,
    );
    await refused(
      {
        exchanges: [
          { name: 'orders', vhost: 'shop', type: 'direct', arguments: { 'alternate-exchange': 'unrouted' } },
        ],
      },
      /exchange 'orders' in vhost 'shop' exists with other properties \(type "topic" here, "direct" in the file\)/,
    );
    await refused(
      { queues: [{ name: 'mine', vhost: 'shop', durable: true }] },
      /queue 'mine' in vhost 'shop' exists as an exclusive queue of a connection/,
    );
    await refused(
      { users: [{ name: 'deployer', tags: ['administrator'] }] },
      /user 'deployer': defined in the config file, which the import cannot change/,
    );
  });

  it('an item twice with different contents', async () => {
    const q = { name: 'twice', vhost: 'shop', durable: true };
    await refused(
      { queues: [q, { ...q, auto_delete: true }] },
      /queue 'twice' in vhost 'shop': appears twice, with different contents/,
    );
    const report = await broker.definitions.import({ queues: [q, { ...q }] });
    assert.equal(report.counts.queues.created, 1, 'the same item twice is one item');
    await broker.vhost('shop')?.deleteQueue('twice', { owner: {} });
  });

  it('lists every problem of a file at once, and applies none of its good items', async () => {
    const message = await refused(
      {
        vhosts: [{ name: 'brand-new' }],
        users: [{ name: 'dave', password: 'pw', tags: [] }],
        queues: [
          { name: 'fine', vhost: 'brand-new', durable: true },
          { name: 'bad1', vhost: 'shop', durable: 'no' },
        ],
        exchanges: [{ name: 'bad2', vhost: 'shop', type: 'nope' }],
      },
      /\(2 problems\)/,
      /durable must be true or false/,
      /exchange type 'nope'/,
    );
    assert.equal(message.split('\n').length, 3);
    assert.equal(broker.vhost('brand-new'), undefined);
    assert.equal(broker.users.getUser('dave'), undefined);
  });
});

describe("definitions import accepts RabbitMQ's quirks", () => {
  it('rabbitmqctl 3.10 vhosts (metadata, tags as one string, limits as []), tags as a string, a missing algorithm', async () => {
    const md5 = (password: string) => {
      const salt = Buffer.from([1, 2, 3, 4]);
      return Buffer.concat([salt, createHash('md5').update(salt).update(password).digest()]).toString(
        'base64',
      );
    };
    const report = await broker.definitions.import({
      rabbit_version: '3.5.7',
      vhosts: [{ name: 'old', limits: [], metadata: { description: 'Old one', tags: 'x,y' } }],
      users: [{ name: 'olduser', password_hash: md5('old-pw'), tags: 'management,monitoring' }],
    });
    assert.deepEqual(report.warnings, []);
    assert.deepEqual(broker.vhostInfo('old'), {
      name: 'old',
      description: 'Old one',
      tags: ['x', 'y'],
      limits: {},
    });
    assert.deepEqual(broker.users.getUser('olduser')?.tags, ['management', 'monitoring']);
    assert.ok(await broker.authenticate('olduser', 'old-pw', '10.0.0.1'), 'md5 before RabbitMQ 3.6');
    const newer = await broker.definitions.import({
      rabbitmq_version: '3.10.8',
      users: [{ name: 'newuser', password_hash: rabbitSha256('new-pw'), tags: [] }],
    });
    assert.deepEqual(newer.warnings, []);
    assert.ok(await broker.authenticate('newuser', 'new-pw', '10.0.0.1'), 'sha256 from 3.6 on');
  });

  it('skips what belongs to the broker or to a cluster, with a warning for each', async () => {
    const report = await broker.definitions.import({
      cluster_notes: 'ignored',
      global_parameters: [
        { name: 'cluster_name', value: 'rabbit@prod' },
        { name: 'internal_cluster_id', value: 'x' },
      ],
      exchanges: [
        { name: 'amq.topic', vhost: 'shop', type: 'topic' },
        { name: '', vhost: 'shop', type: 'direct' },
      ],
      queues: [{ name: 'amq.gen-1', vhost: 'shop' }],
      bindings: [
        { source: '', vhost: 'shop', destination: 'dead', destination_type: 'queue', routing_key: 'dead' },
      ],
      policies: [
        {
          vhost: 'shop',
          name: 'ha-all',
          pattern: '.*',
          definition: { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' },
        },
        {
          vhost: 'shop',
          name: 'ha-ttl',
          pattern: '^ttl',
          definition: { 'ha-mode': 'all', 'message-ttl': 1000 },
        },
      ],
    });
    const warnings = report.warnings.join('\n');
    assert.match(warnings, /unknown key 'cluster_notes' ignored/);
    assert.match(warnings, /global parameter 'cluster_name' ignored/);
    assert.doesNotMatch(warnings, /internal_cluster_id/);
    assert.match(warnings, /exchange 'amq.topic' in vhost 'shop': skipped/);
    assert.match(warnings, /queue 'amq.gen-1' in vhost 'shop': skipped/);
    assert.match(
      warnings,
      /binding of exchange '' .*skipped \(the default exchange's bindings are implicit\)/,
    );
    assert.match(warnings, /policy 'ha-all' in vhost 'shop': skipped; it only sets cluster replication/);
    assert.match(warnings, /policy 'ha-ttl' in vhost 'shop': 'ha-mode' dropped/);
    assert.equal(broker.policies.get('shop', 'ha-all'), undefined);
    assert.deepEqual(broker.policies.get('shop', 'ha-ttl')?.definition, { 'message-ttl': 1000 });
    await broker.policies.clear('shop', 'ha-ttl');
  });

  it('a vhost import ignores the categories that are not a vhost’s', async () => {
    const report = await broker.definitions.import(
      { users: [{ name: 'eve', password: 'x', tags: [] }], queues: [{ name: 'per-vhost' }] },
      'empty',
    );
    assert.match(report.warnings.join('\n'), /a vhost import ignores users/);
    assert.equal(broker.users.getUser('eve'), undefined);
    assert.ok(broker.vhost('empty')?.findQueue('per-vhost'));
  });
});
