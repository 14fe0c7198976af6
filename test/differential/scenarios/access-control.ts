import type { Channel, ChannelModel } from 'amqplib';
import { connect } from '../../helpers/amqp-client.js';
import {
  type CloseReason,
  decodeClose,
  methods,
  PROTOCOL_HEADER,
  RawAmqpClient,
} from '../../helpers/raw-amqp-client.js';
import {
  CONNECTION_LIMIT_VHOST,
  type FixtureUser,
  NO_ACCESS_VHOST,
  ONE_CONNECTION_USER,
  QUEUE_LIMIT_VHOST,
  RESTRICTED_USER,
  TWO_CHANNELS_USER,
} from '../access-fixtures.js';
import type { Observation, Scenario } from '../scenario.js';
import { type ScenarioWorld, withWorld } from '../scenario-world.js';

/**
 * Permissions, topic permissions and limits as a client meets them: which operations a restricted user may
 * do, and the exact codes and texts of the refusals. The users and vhosts are fixtures (access-fixtures.ts)
 * created in both brokers before the scenarios run.
 */

function urlFor(url: string, user: FixtureUser | { name: string; password: string }, vhost = '/'): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user.name);
  u.password = encodeURIComponent(user.password);
  u.pathname = `/${encodeURIComponent(vhost)}`;
  return u.toString();
}

/** The reply code and text an amqplib error carries, names normalised. */
function refusal(w: ScenarioWorld, err: unknown): Observation {
  const e = err as { code?: number; message: string };
  const text = /with message "(.*)"$/.exec(e.message)?.[1] ?? e.message;
  return { code: e.code ?? 'none', text: w.normaliseText(text) };
}

/** Runs one operation on a fresh channel: 'ok', or the channel's (or connection's) close. */
async function onChannel(w: ScenarioWorld, conn: ChannelModel, run: (ch: Channel) => Promise<unknown>) {
  const ch = await conn.createChannel();
  ch.on('error', () => {});
  try {
    await run(ch);
    await ch.close();
    return 'ok';
  } catch (err) {
    return refusal(w, err);
  }
}

/** Publishes one message with confirms: 'ok' on the ack, else the close that refused it. */
async function publishOutcome(w: ScenarioWorld, conn: ChannelModel, exchange: string, key: string) {
  const ch = await conn.createConfirmChannel();
  let closeError: unknown;
  ch.on('error', (err: unknown) => {
    closeError = err;
  });
  const closed = new Promise((resolve) => ch.once('close', resolve));
  const acked = await new Promise<boolean>((resolve) =>
    ch.publish(exchange, key, Buffer.from('m'), {}, (err: unknown) => resolve(!err)),
  );
  if (acked) {
    await ch.close();
    return 'ok';
  }
  await closed;
  return refusal(w, closeError);
}

/** What every operation of the table gets for the restricted user, on vhost "/". */
export const restrictedUserOperations: Scenario = {
  name: 'access-restricted-user-operations',
  needsAdmin: true,
  run: (url) =>
    withWorld(url, async (w) => {
      const other = await w.queue('other-q');
      const ownQ = w.name('own-q');
      const ownX = w.name('own-x');
      const conn = await connect(urlFor(url, RESTRICTED_USER));
      const user = (run: (ch: Channel) => Promise<unknown>) => onChannel(w, conn, run);
      const publish = (exchange: string, key: string) => publishOutcome(w, conn, exchange, key);
      try {
        const observation = {
          declareOwnQueue: await user((ch) => ch.assertQueue(ownQ, { durable: false })),
          declareOtherQueue: await user((ch) => ch.assertQueue(w.name('other-new'), { durable: false })),
          declareServerNamed: await user((ch) => ch.assertQueue('', { exclusive: true })),
          declareReservedName: await user((ch) => ch.assertQueue('amq.mine', { durable: false })),
          declareWithRefusedDlx: await user((ch) =>
            ch.assertQueue(w.name('own-dl'), { durable: false, deadLetterExchange: w.name('other-dlx') }),
          ),
          declareWithDefaultDlx: await user((ch) =>
            ch.assertQueue(w.name('own-dl2'), { durable: false, deadLetterExchange: '' }),
          ),
          passiveDeclareOther: await user((ch) => ch.checkQueue(other)),
          consumeOther: await user((ch) => ch.consume(other, () => {})),
          getOther: await user((ch) => ch.get(other)),
          purgeOther: await user((ch) => ch.purgeQueue(other)),
          deleteOther: await user((ch) => ch.deleteQueue(other)),
          getOwnMissing: await user((ch) => ch.get(w.name('own-missing'))),
          publishDefaultExchange: await publish('', ownQ),
          publishTopicOwnKey: await publish('amq.topic', `${RESTRICTED_USER.name}.orders`),
          publishTopicOtherKey: await publish('amq.topic', 'other.orders'),
          publishMissingRefused: await publish(w.name('other-missing-x'), 'k'),
          publishMissingAllowed: await publish(w.name('own-missing-x'), 'k'),
          bindTopicAllowedKey: await user((ch) => ch.bindQueue(ownQ, 'amq.topic', 'news.sport')),
          bindTopicRefusedKey: await user((ch) => ch.bindQueue(ownQ, 'amq.topic', 'gossip.#')),
          unbindTopicRefusedKey: await user((ch) => ch.unbindQueue(ownQ, 'amq.topic', 'gossip.#')),
          bindFromUnreadable: await user((ch) => ch.bindQueue(ownQ, 'amq.direct', 'k')),
          bindOtherQueue: await user((ch) => ch.bindQueue(other, 'amq.topic', 'news.x')),
          bindFromDefault: await user((ch) => ch.bindQueue(ownQ, '', 'k')),
          declareOwnExchange: await user((ch) => ch.assertExchange(ownX, 'fanout', { durable: false })),
          declareWithRefusedAe: await user((ch) =>
            ch.assertExchange(w.name('own-ae-x'), 'direct', {
              durable: false,
              alternateExchange: w.name('other-ae'),
            }),
          ),
          declareReservedExchange: await user((ch) => ch.assertExchange('amq.mine', 'direct')),
          exchangeBindFromUnreadable: await user((ch) => ch.bindExchange(ownX, 'amq.fanout', 'k')),
          deleteSystemExchange: await user((ch) => ch.deleteExchange('amq.direct')),
          deleteOwnExchange: await user((ch) => ch.deleteExchange(ownX)),
          deleteOwnQueue: await user((ch) => ch.deleteQueue(ownQ)),
        };
        return observation;
      } finally {
        await conn.close().catch(() => {});
      }
    }),
  expected: {
    bindFromDefault: {
      code: 403,
      text: 'ACCESS_REFUSED - operation not permitted on the default exchange',
    },
    bindFromUnreadable: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange 'amq.direct' in vhost '/' refused for user 'd-limited'",
    },
    bindOtherQueue: {
      code: 403,
      text: "ACCESS_REFUSED - access to queue '<other-q>' in vhost '/' refused for user 'd-limited'",
    },
    bindTopicAllowedKey: 'ok',
    bindTopicRefusedKey: {
      code: 403,
      text: "ACCESS_REFUSED - access to topic 'gossip.#' in exchange 'amq.topic' in vhost '/' refused for user 'd-limited'",
    },
    consumeOther: {
      code: 403,
      text: "ACCESS_REFUSED - access to queue '<other-q>' in vhost '/' refused for user 'd-limited'",
    },
    declareOtherQueue: {
      code: 403,
      text: "ACCESS_REFUSED - access to queue '<other-new>' in vhost '/' refused for user 'd-limited'",
    },
    declareOwnExchange: 'ok',
    declareOwnQueue: 'ok',
    declareReservedExchange: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange 'amq.mine' in vhost '/' refused for user 'd-limited'",
    },
    declareReservedName: {
      code: 403,
      text: "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'",
    },
    declareServerNamed: {
      code: 403,
      text: "ACCESS_REFUSED - access to queue 'amq.gen-<generated>' in vhost '/' refused for user 'd-limited'",
    },
    declareWithDefaultDlx: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'd-limited'",
    },
    declareWithRefusedAe: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange '<other-ae>' in vhost '/' refused for user 'd-limited'",
    },
    declareWithRefusedDlx: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange '<other-dlx>' in vhost '/' refused for user 'd-limited'",
    },
    deleteOther: {
      code: 403,
      text: "ACCESS_REFUSED - access to queue '<other-q>' in vhost '/' refused for user 'd-limited'",
    },
    deleteOwnExchange: 'ok',
    deleteOwnQueue: 'ok',
    deleteSystemExchange: {
      code: 403,
      text: "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed",
    },
    exchangeBindFromUnreadable: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange 'amq.fanout' in vhost '/' refused for user 'd-limited'",
    },
    getOther: {
      code: 403,
      text: "ACCESS_REFUSED - access to queue '<other-q>' in vhost '/' refused for user 'd-limited'",
    },
    getOwnMissing: {
      code: 404,
      text: "NOT_FOUND - no queue '<own-missing>' in vhost '/'",
    },
    passiveDeclareOther: 'ok',
    publishDefaultExchange: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange 'amq.default' in vhost '/' refused for user 'd-limited'",
    },
    publishMissingAllowed: {
      code: 404,
      text: "NOT_FOUND - no exchange '<own-missing-x>' in vhost '/'",
    },
    publishMissingRefused: {
      code: 403,
      text: "ACCESS_REFUSED - access to exchange '<other-missing-x>' in vhost '/' refused for user 'd-limited'",
    },
    publishTopicOtherKey: {
      code: 403,
      text: "ACCESS_REFUSED - access to topic 'other.orders' in exchange 'amq.topic' in vhost '/' refused for user 'd-limited'",
    },
    publishTopicOwnKey: 'ok',
    purgeOther: {
      code: 403,
      text: "ACCESS_REFUSED - access to queue '<other-q>' in vhost '/' refused for user 'd-limited'",
    },
    unbindTopicRefusedKey: {
      code: 403,
      text: "ACCESS_REFUSED - access to topic 'gossip.#' in exchange 'amq.topic' in vhost '/' refused for user 'd-limited'",
    },
  },
};

/** max-queues on a vhost: new queues beyond it are refused; existing ones may be re-declared. */
export const vhostQueueLimit: Scenario = {
  name: 'access-vhost-queue-limit',
  needsAdmin: true,
  run: (url) =>
    withWorld(url, async (w) => {
      const conn = await connect(urlFor(url, { name: 'guest', password: 'guest' }, QUEUE_LIMIT_VHOST));
      const [q1, q2, q3] = [w.name('limited-1'), w.name('limited-2'), w.name('limited-3')];
      const declare = (name: string, options = {}) =>
        onChannel(w, conn, (ch) => ch.assertQueue(name, options));
      try {
        return {
          first: await declare(q1, { durable: false }),
          second: await declare(q2, { durable: true }),
          third: await declare(q3, { durable: false }),
          serverNamed: await declare('', { exclusive: true }),
          redeclareFirst: await declare(q1, { durable: false }),
        };
      } finally {
        await onChannel(w, conn, async (ch) => {
          await ch.deleteQueue(q1);
          await ch.deleteQueue(q2);
        });
        await conn.close().catch(() => {});
      }
    }),
  expected: {
    first: 'ok',
    redeclareFirst: 'ok',
    second: 'ok',
    serverNamed: {
      code: 406,
      text: "PRECONDITION_FAILED - cannot declare queue 'amq.gen-<generated>': queue limit in vhost 'd-queue-limit' (2) is reached",
    },
    third: {
      code: 406,
      text: "PRECONDITION_FAILED - cannot declare queue '<limited-3>': queue limit in vhost 'd-queue-limit' (2) is reached",
    },
  },
};

/** Runs the handshake up to connection.open: 'open', or the connection.close the broker answered with. */
async function openOutcome(
  url: string,
  user: { name: string; password: string },
  vhost: string,
): Promise<Observation> {
  const { hostname, port } = new URL(url);
  const raw = await RawAmqpClient.connect(Number(port), hostname);
  try {
    await raw.write(PROTOCOL_HEADER);
    await raw.expectMethod(10, 10);
    await raw.write(methods.startOk(user.name, user.password));
    const tune = await raw.readMethod();
    if (tune === undefined) throw new Error('the broker dropped the connection during login');
    if (tune.classId === 10 && tune.methodId === 50) return { ...decodeClose(tune.args) };
    await raw.write(methods.tuneOk(tune.args.readUInt16BE(0), tune.args.readUInt32BE(2), 0));
    await raw.write(methods.connectionOpen(vhost));
    const m = await raw.readMethod();
    if (m === undefined) throw new Error('the broker dropped the connection without connection.close');
    return m.classId === 10 && m.methodId === 41 ? 'open' : { ...decodeClose(m.args) };
  } finally {
    raw.destroy();
  }
}

const GUEST = { name: 'guest', password: 'guest' };

/** Connection and channel limits of vhosts and users, and access to vhosts, at connection.open. */
export const connectionLimits: Scenario = {
  name: 'access-connection-limits',
  needsAdmin: true,
  run: async (url) => {
    const held: ChannelModel[] = [];
    try {
      held.push(await connect(urlFor(url, GUEST, CONNECTION_LIMIT_VHOST)));
      const vhostLimit = await openOutcome(url, GUEST, CONNECTION_LIMIT_VHOST);
      held.push(await connect(urlFor(url, ONE_CONNECTION_USER)));
      const userLimit = await openOutcome(url, ONE_CONNECTION_USER, '/');
      // Two channels on two connections, then a third: the user's limit counts across connections.
      const { hostname, port } = new URL(url);
      const first = await connect(urlFor(url, TWO_CHANNELS_USER));
      held.push(first);
      await first.createChannel();
      const raw = await RawAmqpClient.connect(Number(port), hostname);
      let channelLimit: CloseReason | undefined;
      try {
        await raw.handshake({ user: TWO_CHANNELS_USER.name, pass: TWO_CHANNELS_USER.password });
        await raw.openChannel(1);
        await raw.write(methods.channelOpen(2));
        channelLimit = await raw.readConnectionClose();
      } finally {
        raw.destroy();
      }
      return {
        vhostLimit,
        userLimit,
        channelLimit: channelLimit ? { ...channelLimit } : 'no close',
        unknownVhost: await openOutcome(url, GUEST, 'd-no-such-vhost'),
        noPermissions: await openOutcome(url, RESTRICTED_USER, NO_ACCESS_VHOST),
        wrongPassword: await openOutcome(url, { name: RESTRICTED_USER.name, password: 'wrong' }, '/'),
      };
    } finally {
      for (const c of held) await c.close().catch(() => {});
    }
  },
  expected: {
    channelLimit: {
      classId: 0,
      methodId: 0,
      replyCode: 530,
      replyText:
        "NOT_ALLOWED - number of channels opened for user 'd-two-channels' has reached the maximum allowed user limit of (2)",
    },
    noPermissions: {
      classId: 10,
      methodId: 40,
      replyCode: 530,
      replyText: "NOT_ALLOWED - access to vhost 'd-no-access' refused for user 'd-limited'",
    },
    unknownVhost: {
      classId: 10,
      methodId: 40,
      replyCode: 530,
      replyText: 'NOT_ALLOWED - vhost d-no-such-vhost not found',
    },
    userLimit: {
      classId: 10,
      methodId: 40,
      replyCode: 530,
      replyText:
        "NOT_ALLOWED - connection refused for user 'd-one-connection': user connection limit (1) is reached",
    },
    vhostLimit: {
      classId: 10,
      methodId: 40,
      replyCode: 530,
      replyText:
        "NOT_ALLOWED - access to vhost 'd-connection-limit' refused for user 'guest': connection limit (1) is reached",
    },
    wrongPassword: {
      classId: 0,
      methodId: 0,
      replyCode: 403,
      replyText:
        'ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.',
    },
  },
};

export const accessControlScenarios: Scenario[] = [
  restrictedUserOperations,
  vhostQueueLimit,
  connectionLimits,
];
