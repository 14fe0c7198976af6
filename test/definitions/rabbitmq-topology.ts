import assert from 'node:assert/strict';
import type { Channel } from 'amqplib';
import type { DefinitionsJson } from '../../src/core/definitions-format.js';
import {
  connect,
  getOne,
  openChannel,
  openConfirmChannel,
  waitFor,
  withConnection,
} from '../helpers/amqp-client.js';
import type { RabbitMq } from '../helpers/rabbitmq.js';

/**
 * One topology built on a real RabbitMQ 3.10 (rabbitmqctl for vhosts, users, permissions, limits and policies;
 * AMQP for exchanges, queues and bindings), exported with `rabbitmqctl export_definitions`, and the checks
 * that EventterMQ, once it imported that export, behaves as the topology says. The recorded export in
 * test/fixtures/ was made by this same function.
 */

export const VHOST = 'shop';
export const USERS = { alice: 'alice-secret', bob: 'bob-secret' } as const;

/** Builds the topology on a RabbitMQ node this process started (rabbitmqctl needs it). */
export async function buildOnRabbitMq(rabbit: RabbitMq): Promise<void> {
  const ctl = (...args: string[]) => rabbit.rabbitmqctl(args);
  await ctl('add_vhost', VHOST, '--description', 'The shop', '--tags', 'retail,eu');
  await ctl('add_user', 'alice', USERS.alice);
  await ctl('set_user_tags', 'alice', 'management');
  await ctl('add_user', 'bob', USERS.bob);
  await ctl('set_permissions', '-p', VHOST, 'alice', '^alice\\.', '.*', '.*');
  await ctl('set_permissions', '-p', VHOST, 'bob', '', '^orders$', '^bob\\.');
  await ctl('set_permissions', '-p', VHOST, 'guest', '.*', '.*', '.*');
  await ctl('set_topic_permissions', '-p', VHOST, 'bob', 'amq.topic', '^orders\\.', '.*');
  await ctl('set_vhost_limits', '-p', VHOST, '{"max-connections": 100, "max-queues": 200}');
  await ctl('set_user_limits', 'bob', '{"max-connections": 5, "max-channels": 20}');
  await ctl('set_policy', '-p', VHOST, '--apply-to', 'queues', 'caps', '^capped$', '{"max-length": 2}');
  // Classic mirroring: meaningless on one node, so an import drops it with a warning.
  await ctl('set_policy', '-p', VHOST, '--apply-to', 'queues', 'mirror', '^ha\\.', '{"ha-mode": "all"}');
  await withConnection(`${rabbit.url}/${VHOST}`, async (conn) => {
    const ch = await openChannel(conn);
    await ch.assertExchange('unrouted', 'fanout', { durable: true });
    await ch.assertExchange('orders', 'topic', { durable: true, alternateExchange: 'unrouted' });
    await ch.assertExchange('dlx', 'direct', { durable: true });
    await ch.assertExchange('audit', 'headers', { durable: true });
    await ch.assertExchange('fan', 'fanout', { durable: true });
    const queue = (name: string, args: Record<string, unknown> = {}) =>
      ch.assertQueue(name, { durable: true, arguments: args });
    await queue('orders.eu', {
      'x-message-ttl': 60000,
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'dead',
      'x-max-length': 1000,
    });
    await queue('short', {
      'x-message-ttl': 50,
      'x-dead-letter-exchange': 'dlx',
      'x-dead-letter-routing-key': 'dead',
    });
    for (const name of ['dead', 'unrouted.q', 'audit.q', 'fanned', 'capped', 'bob.inbox']) await queue(name);
    await queue('work', { 'x-queue-type': 'quorum', 'x-delivery-limit': 5 });
    await queue('events', { 'x-queue-type': 'stream', 'x-max-age': '7D' });
    await ch.bindQueue('orders.eu', 'orders', 'eu.#');
    await ch.bindExchange('fan', 'orders', 'eu.#');
    await ch.bindQueue('fanned', 'fan', '');
    await ch.bindQueue('events', 'fan', '');
    await ch.bindQueue('unrouted.q', 'unrouted', '');
    await ch.bindQueue('dead', 'dlx', 'dead');
    await ch.bindQueue('audit.q', 'audit', '', { 'x-match': 'all', region: 'eu' });
    await ch.bindQueue('bob.inbox', 'amq.topic', 'bob.#');
  });
}

const amqpUrl = (port: number, user: string, password: string, vhost: string) =>
  `amqp://${user}:${password}@127.0.0.1:${port}/${encodeURIComponent(vhost)}`;

async function count(ch: Channel, queue: string): Promise<number> {
  return (await ch.checkQueue(queue)).messageCount;
}

/** Users log in with their RabbitMQ passwords, to the vhosts their permissions allow. */
export async function checkLogins(amqpPort: number): Promise<void> {
  for (const [user, password] of Object.entries(USERS)) {
    const conn = await connect(amqpUrl(amqpPort, user, password, VHOST));
    await conn.close();
    await assert.rejects(connect(amqpUrl(amqpPort, user, 'wrong', VHOST)), `${user} with a wrong password`);
  }
  await assert.rejects(
    connect(amqpUrl(amqpPort, 'alice', USERS.alice, '/')),
    'alice has no permissions on /',
  );
}

/** Messages go where the imported exchanges, bindings, arguments and policies send them. */
export async function checkRouting(amqpPort: number): Promise<void> {
  await withConnection(amqpUrl(amqpPort, 'guest', 'guest', VHOST), async (conn) => {
    const ch = await openConfirmChannel(conn);
    const publish = async (exchange: string, key: string, headers?: Record<string, unknown>) => {
      ch.publish(exchange, key, Buffer.from(`${exchange}/${key}`), { headers });
      await ch.waitForConfirms();
    };
    await publish('orders', 'eu.new');
    assert.equal((await getOne(ch, 'orders.eu'))?.content.toString(), 'orders/eu.new');
    assert.equal((await getOne(ch, 'fanned'))?.content.toString(), 'orders/eu.new', 'exchange-to-exchange');
    await publish('orders', 'us.new');
    assert.equal((await getOne(ch, 'unrouted.q'))?.content.toString(), 'orders/us.new', 'alternate exchange');
    await publish('audit', '', { region: 'us' });
    await publish('audit', '', { region: 'eu' });
    assert.equal(await count(ch, 'audit.q'), 1, 'headers binding');
    await publish('amq.topic', 'bob.hello');
    assert.equal((await getOne(ch, 'bob.inbox'))?.content.toString(), 'amq.topic/bob.hello');
    await publish('', 'short');
    const dead = await waitFor(() => ch.get('dead', { noAck: true }), 'the dead-lettered message', 10_000);
    assert.equal(
      dead.content.toString(),
      '/short',
      'TTL then dead-lettered through dlx with its routing key',
    );
    for (let i = 0; i < 3; i++) await publish('', 'capped');
    assert.equal(await count(ch, 'capped'), 2, "the imported policy's max-length");
    assert.equal((await ch.checkQueue('events')).queue, 'events');
    assert.equal((await ch.checkQueue('work')).queue, 'work');
  });
}

/** What the broker holds after the import, as its own export shows it. */
export function checkDefinitions(d: DefinitionsJson): void {
  const shop = d.vhosts.find((v) => v.name === VHOST);
  assert.deepEqual(shop, { name: VHOST, description: 'The shop', tags: ['retail', 'eu'] });
  assert.deepEqual(
    d.permissions.filter((p) => p.vhost === VHOST && p.user !== 'guest'),
    [
      { user: 'alice', vhost: VHOST, configure: '^alice\\.', write: '.*', read: '.*' },
      { user: 'bob', vhost: VHOST, configure: '', write: '^orders$', read: '^bob\\.' },
    ],
  );
  assert.deepEqual(d.topic_permissions, [
    { user: 'bob', vhost: VHOST, exchange: 'amq.topic', write: '^orders\\.', read: '.*' },
  ]);
  assert.deepEqual(d.users.find((u) => u.name === 'alice')?.tags, ['management']);
  assert.deepEqual(d.users.find((u) => u.name === 'bob')?.limits, {
    'max-channels': 20,
    'max-connections': 5,
  });
  assert.deepEqual(d.parameters, [
    {
      vhost: VHOST,
      component: 'vhost-limits',
      name: 'limits',
      value: { 'max-connections': 100, 'max-queues': 200 },
    },
  ]);
  assert.deepEqual(
    d.policies.map((p) => [p.name, p.definition]),
    [['caps', { 'max-length': 2 }]],
    'the mirroring policy is dropped',
  );
  const types = Object.fromEntries(d.queues.map((q) => [q.name, q.type]));
  assert.deepEqual(types, {
    'audit.q': 'classic',
    'bob.inbox': 'classic',
    capped: 'classic',
    dead: 'classic',
    events: 'stream',
    fanned: 'classic',
    'orders.eu': 'classic',
    short: 'classic',
    'unrouted.q': 'classic',
    work: 'quorum',
  });
  assert.equal(d.bindings.length, 8);
}
