import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Channel, ChannelModel } from 'amqplib';
import {
  type AmqpError,
  channelClosed,
  connect,
  expectChannelClose,
  openChannel,
  openConfirmChannel,
} from '../../helpers/amqp-client.js';
import { type InProcessBroker, startInProcessBroker } from '../../helpers/in-process-broker.js';
import { ReplyCode } from '../../helpers/reply-codes.js';

/**
 * Every AMQP operation that RabbitMQ guards, for a user holding exactly one kind of permission (or write and
 * read together), allowed and refused, with RabbitMQ 3.10's texts (checked against RabbitMQ by the
 * differential scenarios in test/differential/scenarios/permissions.ts).
 */

type Access = 'configure' | 'write' | 'read';

let b: InProcessBroker;
let admin: ChannelModel;
const conns = new Map<string, ChannelModel>();

/** One user per permission set, all on vhost "/": c = configure only, w = write only, r = read only, wr = both. */
const USERS: Record<string, Access[]> = {
  c: ['configure'],
  w: ['write'],
  r: ['read'],
  wr: ['write', 'read'],
};

before(async () => {
  b = await startInProcessBroker();
  for (const [name, grants] of Object.entries(USERS)) {
    const pattern = (a: Access) => (grants.includes(a) ? '.*' : '');
    await b.addUser(name, `${name}-pw`, {
      configure: pattern('configure'),
      write: pattern('write'),
      read: pattern('read'),
    });
    conns.set(name, await connect(b.url(name, `${name}-pw`)));
  }
  admin = await connect(b.url('guest', 'guest'));
  const ch = await openChannel(admin);
  await ch.assertQueue('pq', { durable: false });
  await ch.assertExchange('px', 'direct', { durable: false });
  await ch.assertExchange('px-dest', 'fanout', { durable: false });
  for (const user of Object.keys(USERS)) {
    await ch.assertQueue(`pq-${user}-del`, { durable: false });
    await ch.assertExchange(`px-${user}-del`, 'direct', { durable: false });
  }
  await ch.close();
});

after(async () => {
  for (const c of [...conns.values(), admin]) await c?.close().catch(() => {});
  await b.close();
});

interface Operation {
  name: string;
  /** Permissions needed, in the order RabbitMQ checks them, with the resource each is checked on. */
  needs: Array<[Access, 'queue' | 'exchange', (user: string) => string]>;
  run(ch: Channel, user: string): Promise<unknown>;
}

const fixed = (name: string) => () => name;

const OPERATIONS: Operation[] = [
  {
    name: 'queue.declare',
    needs: [['configure', 'queue', (u) => `pq-${u}-new`]],
    run: (ch, u) => ch.assertQueue(`pq-${u}-new`, { durable: false }),
  },
  {
    name: 'queue.delete',
    needs: [['configure', 'queue', (u) => `pq-${u}-del`]],
    run: (ch, u) => ch.deleteQueue(`pq-${u}-del`),
  },
  {
    name: 'queue.purge',
    needs: [['read', 'queue', fixed('pq')]],
    run: (ch) => ch.purgeQueue('pq'),
  },
  {
    name: 'queue.bind',
    needs: [
      ['write', 'queue', fixed('pq')],
      ['read', 'exchange', fixed('px')],
    ],
    run: (ch, u) => ch.bindQueue('pq', 'px', `k-${u}`),
  },
  {
    name: 'queue.unbind',
    needs: [
      ['write', 'queue', fixed('pq')],
      ['read', 'exchange', fixed('px')],
    ],
    run: (ch, u) => ch.unbindQueue('pq', 'px', `k-${u}`),
  },
  {
    name: 'exchange.declare',
    needs: [['configure', 'exchange', (u) => `px-${u}-new`]],
    run: (ch, u) => ch.assertExchange(`px-${u}-new`, 'direct', { durable: false }),
  },
  {
    name: 'exchange.delete',
    needs: [['configure', 'exchange', (u) => `px-${u}-del`]],
    run: (ch, u) => ch.deleteExchange(`px-${u}-del`),
  },
  {
    name: 'exchange.bind',
    needs: [
      ['write', 'exchange', fixed('px-dest')],
      ['read', 'exchange', fixed('px')],
    ],
    run: (ch, u) => ch.bindExchange('px-dest', 'px', `k-${u}`),
  },
  {
    name: 'exchange.unbind',
    needs: [
      ['write', 'exchange', fixed('px-dest')],
      ['read', 'exchange', fixed('px')],
    ],
    run: (ch, u) => ch.unbindExchange('px-dest', 'px', `k-${u}`),
  },
  {
    name: 'basic.publish',
    needs: [['write', 'exchange', fixed('px')]],
    run: (ch) => publishConfirmed(ch, 'px', 'nowhere'),
  },
  {
    name: 'basic.consume',
    needs: [['read', 'queue', fixed('pq')]],
    run: async (ch) => ch.cancel((await ch.consume('pq', () => {})).consumerTag),
  },
  {
    name: 'basic.get',
    needs: [['read', 'queue', fixed('pq')]],
    run: (ch) => ch.get('pq'),
  },
];

/** Publishes on a confirm channel: resolves on the broker's ack, rejects with the channel's close error. */
function publishConfirmed(ch: Channel, exchange: string, key: string): Promise<void> {
  const closed = channelClosed(ch);
  const confirmed = new Promise<void>((resolve, reject) =>
    (ch as unknown as { publish: PublishWithCallback }).publish(exchange, key, Buffer.from('m'), {}, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  return Promise.race([confirmed, closed]);
}

type PublishWithCallback = (
  exchange: string,
  key: string,
  body: Buffer,
  options: object,
  done: (err: unknown) => void,
) => boolean;

function refusal(kind: string, name: string, user: string): string {
  return `ACCESS_REFUSED - access to ${kind} '${name}' in vhost '/' refused for user '${user}'`;
}

describe('permissions on every operation', () => {
  for (const op of OPERATIONS) {
    for (const [user, grants] of Object.entries(USERS)) {
      const missing = op.needs.find(([a]) => !grants.includes(a));
      const title = missing
        ? `${op.name} is refused without ${missing[0]} on the ${missing[1]} (user ${user})`
        : `${op.name} is allowed with ${op.needs.map(([a]) => a).join(' + ')} (user ${user})`;
      test(title, async () => {
        const conn = conns.get(user)!;
        const ch = op.name === 'basic.publish' ? await openConfirmChannel(conn) : await openChannel(conn);
        if (!missing) {
          await op.run(ch, user);
          await ch.close();
          return;
        }
        const err = await expectChannelClose(op.run(ch, user), ReplyCode.ACCESS_REFUSED);
        assert.ok(
          err.message.includes(refusal(missing[1], missing[2](user), user)),
          `unexpected text: ${err.message}`,
        );
      });
    }
  }
});

describe('what is checked before what', () => {
  test('a refused queue.declare creates nothing; a permitted one does', async () => {
    const ch = await openChannel(admin);
    await assert.rejects(ch.checkQueue('pq-w-new'), (e: AmqpError) => e.code === ReplyCode.NOT_FOUND);
    const again = await openChannel(admin);
    assert.equal((await again.checkQueue('pq-c-new')).queue, 'pq-c-new');
    await again.close();
  });

  test('publishing is refused before the exchange is looked up; with write it is a 404', async () => {
    const r = await openChannel(conns.get('r')!);
    const refused = await expectChannelClose(publishConfirmed(r, 'no-such-exchange', 'k'), 403);
    assert.match(refused.message, /access to exchange 'no-such-exchange' in vhost '\/' refused for user 'r'/);
    const w = await openChannel(conns.get('w')!);
    const missing = await expectChannelClose(publishConfirmed(w, 'no-such-exchange', 'k'), 404);
    assert.match(missing.message, /no exchange 'no-such-exchange' in vhost '\/'/);
  });

  test('the default exchange is amq.default in permission texts', async () => {
    const ch = await openChannel(conns.get('r')!);
    const err = await expectChannelClose(publishConfirmed(ch, '', 'pq'), 403);
    assert.ok(err.message.includes(refusal('exchange', 'amq.default', 'r')), err.message);
  });

  test('consuming and getting are refused before the queue is looked up', async () => {
    for (const op of [
      (ch: Channel) => ch.get('no-such-q'),
      (ch: Channel) => ch.consume('no-such-q', () => {}),
    ]) {
      const ch = await openChannel(conns.get('w')!);
      const err = await expectChannelClose(op(ch), 403);
      assert.ok(err.message.includes(refusal('queue', 'no-such-q', 'w')), err.message);
    }
  });

  test('the reserved amq. prefix of a queue name is refused before configure is checked', async () => {
    const ch = await openChannel(conns.get('w')!);
    const err = await expectChannelClose(ch.assertQueue('amq.mine'), 403);
    assert.match(err.message, /queue name 'amq.mine' contains reserved prefix 'amq\.\*'/);
  });

  test('an amq. exchange name is checked for configure first, then the prefix', async () => {
    const w = await openChannel(conns.get('w')!);
    const refused = await expectChannelClose(w.assertExchange('amq.mine', 'direct'), 403);
    assert.ok(refused.message.includes(refusal('exchange', 'amq.mine', 'w')), refused.message);
    const c = await openChannel(conns.get('c')!);
    const reserved = await expectChannelClose(c.assertExchange('amq.mine', 'direct'), 403);
    assert.match(reserved.message, /exchange name 'amq.mine' contains reserved prefix 'amq\.\*'/);
    // An existing amq.* exchange may be re-declared, as in RabbitMQ.
    const again = await openChannel(conns.get('c')!);
    await again.assertExchange('amq.direct', 'direct', { durable: true });
    await again.close();
  });

  test('deleting a system exchange is refused before configure is checked', async () => {
    const ch = await openChannel(conns.get('w')!);
    const err = await expectChannelClose(ch.deleteExchange('amq.direct'), 403);
    assert.match(err.message, /deletion of system exchange 'amq.direct' in vhost '\/' not allowed/);
  });

  test('a server-named queue is checked under its generated name', async () => {
    await b.addUser('gen', 'gen-pw', { configure: '^amq\\.gen-', write: '', read: '' });
    const conn = await connect(b.url('gen', 'gen-pw'));
    try {
      const ch = await openChannel(conn);
      const ok = await ch.assertQueue('', { exclusive: true });
      assert.match(ok.queue, /^amq\.gen-/);
      const err = await expectChannelClose(ch.assertQueue('named'), 403);
      assert.ok(err.message.includes(refusal('queue', 'named', 'gen')), err.message);
      const w = await openChannel(conns.get('w')!);
      const refused = await expectChannelClose(w.assertQueue('', { exclusive: true }), 403);
      assert.match(
        refused.message,
        /access to queue 'amq\.gen-[A-Za-z0-9_-]+' in vhost '\/' refused for user 'w'/,
      );
    } finally {
      await conn.close().catch(() => {});
    }
  });
});

describe('dead-letter and alternate exchanges', () => {
  before(async () => {
    // configure on dl-* queues and ae-* exchanges; read on dl-ok*/ae-ok*; write on the exchanges named *-allowed.
    await b.addUser('dl', 'dl-pw', {
      configure: '^(dl|ae)-',
      write: '-allowed$',
      read: '^(dl|ae)-ok',
    });
    conns.set('dl', await connect(b.url('dl', 'dl-pw')));
  });

  test('a new queue with a dead-letter exchange needs read on itself and write on the exchange', async () => {
    const conn = conns.get('dl')!;
    const ok = await openChannel(conn);
    await ok.assertQueue('dl-ok-1', { durable: false, deadLetterExchange: 'dlx-allowed' });
    await ok.close();
    const noRead = await openChannel(conn);
    const e1 = await expectChannelClose(
      noRead.assertQueue('dl-noread', { durable: false, deadLetterExchange: 'dlx-allowed' }),
      403,
    );
    assert.ok(e1.message.includes(refusal('queue', 'dl-noread', 'dl')), e1.message);
    const noWrite = await openChannel(conn);
    const e2 = await expectChannelClose(
      noWrite.assertQueue('dl-ok-2', { durable: false, deadLetterExchange: 'dlx-refused' }),
      403,
    );
    assert.ok(e2.message.includes(refusal('exchange', 'dlx-refused', 'dl')), e2.message);
    const toDefault = await openChannel(conn);
    const e3 = await expectChannelClose(
      toDefault.assertQueue('dl-ok-3', { durable: false, deadLetterExchange: '' }),
      403,
    );
    assert.ok(e3.message.includes(refusal('exchange', 'amq.default', 'dl')), e3.message);
  });

  test('re-declaring an existing queue does not check its dead-letter exchange again', async () => {
    const setup = await openChannel(admin);
    await setup.assertQueue('dl-existing', { durable: false, deadLetterExchange: 'dlx-refused' });
    await setup.close();
    const ch = await openChannel(conns.get('dl')!);
    await ch.assertQueue('dl-existing', { durable: false, deadLetterExchange: 'dlx-refused' });
    await ch.close();
  });

  test('a new exchange with an alternate exchange needs read on itself and write on the alternate', async () => {
    const conn = conns.get('dl')!;
    const ok = await openChannel(conn);
    await ok.assertExchange('ae-ok-1', 'direct', { durable: false, alternateExchange: 'ae-allowed' });
    await ok.close();
    const noRead = await openChannel(conn);
    const e1 = await expectChannelClose(
      noRead.assertExchange('ae-noread', 'direct', { durable: false, alternateExchange: 'ae-allowed' }),
      403,
    );
    assert.ok(e1.message.includes(refusal('exchange', 'ae-noread', 'dl')), e1.message);
    const noWrite = await openChannel(conn);
    const e2 = await expectChannelClose(
      noWrite.assertExchange('ae-ok-2', 'direct', { durable: false, alternateExchange: 'ae-refused' }),
      403,
    );
    assert.ok(e2.message.includes(refusal('exchange', 'ae-refused', 'dl')), e2.message);
  });
});

describe('topic permissions', () => {
  before(async () => {
    await b.addUser('tp', 'tp-pw', {
      configure: '^tp-',
      write: '^(tp-|amq\\.topic$)',
      read: '^(tp-|amq\\.topic$)',
    });
    // {username} is expanded when the permissions are set: write only under "tp.", bind only "news.*".
    await b.broker.users.setTopicPermissions('tp', '/', 'amq.topic', {
      write: '^{username}\\.',
      read: '^news\\.',
    });
    conns.set('tp', await connect(b.url('tp', 'tp-pw')));
    const ch = await openChannel(conns.get('tp')!);
    await ch.assertQueue('tp-q', { durable: false });
    await ch.close();
  });

  test('publishing to amq.topic follows the write pattern, {username} expanded', async () => {
    const conn = conns.get('tp')!;
    const ok = await openConfirmChannel(conn);
    await publishConfirmed(ok, 'amq.topic', 'tp.orders');
    await ok.close();
    const refused = await openConfirmChannel(conn);
    const err = await expectChannelClose(publishConfirmed(refused, 'amq.topic', 'other.orders'), 403);
    assert.ok(
      err.message.includes(
        "ACCESS_REFUSED - access to topic 'other.orders' in exchange 'amq.topic' in vhost '/' refused for user 'tp'",
      ),
      err.message,
    );
  });

  test('binding to amq.topic follows the read pattern', async () => {
    const conn = conns.get('tp')!;
    const ok = await openChannel(conn);
    await ok.bindQueue('tp-q', 'amq.topic', 'news.sport');
    await ok.unbindQueue('tp-q', 'amq.topic', 'news.sport');
    await ok.close();
    const refused = await openChannel(conn);
    const err = await expectChannelClose(refused.bindQueue('tp-q', 'amq.topic', 'gossip.#'), 403);
    assert.ok(
      err.message.includes(
        "access to topic 'gossip.#' in exchange 'amq.topic' in vhost '/' refused for user 'tp'",
      ),
      err.message,
    );
  });

  test('other exchanges, and users without topic permissions, are not limited by routing key', async () => {
    const own = await openConfirmChannel(conns.get('tp')!);
    await own.assertExchange('tp-direct', 'direct', { durable: false });
    await publishConfirmed(own, 'tp-direct', 'anything');
    await own.close();
    const wr = await openConfirmChannel(conns.get('wr')!);
    await publishConfirmed(wr, 'amq.topic', 'other.orders');
    await wr.close();
  });

  test('permission changes apply to open channels at once, the cached publish check included', async () => {
    await b.addUser('live', 'live-pw', { configure: '', write: '.*', read: '' });
    const conn = await connect(b.url('live', 'live-pw'));
    try {
      const ch = await openConfirmChannel(conn);
      await publishConfirmed(ch, 'px', 'k');
      await publishConfirmed(ch, 'px', 'k'); // answered from the channel's cache
      await b.broker.users.setPermissions('live', '/', { configure: '', write: '^nothing$', read: '' });
      const err = await expectChannelClose(publishConfirmed(ch, 'px', 'k'), 403);
      assert.ok(err.message.includes(refusal('exchange', 'px', 'live')), err.message);
      await b.broker.users.setTopicPermissions('live', '/', 'amq.topic', { write: '^a$', read: '' });
      await b.broker.users.setPermissions('live', '/', { configure: '', write: '.*', read: '' });
      const again = await openConfirmChannel(conn);
      await publishConfirmed(again, 'amq.topic', 'a');
      await expectChannelClose(publishConfirmed(again, 'amq.topic', 'b'), 403);
    } finally {
      await conn.close().catch(() => {});
    }
  });
});
