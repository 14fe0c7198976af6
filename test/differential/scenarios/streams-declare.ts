import type { Scenario } from '../scenario.js';
import { withWorld } from '../scenario-world.js';
import {
  attempt,
  declareOutcome,
  declareStream,
  follow,
  publishEach,
  STREAM,
  streamDeclareOutcome,
} from './streams-support.js';

/** queue.declare of a stream: it must be durable, neither exclusive nor auto-delete, and named. */
export const streamDeclareFlags: Scenario = {
  name: 'stream-declare-flags',
  run: (url) =>
    withWorld(url, async (w) => ({
      durable: await declareOutcome(w, 'durable', { durable: true, arguments: STREAM }),
      nonDurable: await declareOutcome(w, 'non-durable', { durable: false, arguments: STREAM }),
      exclusive: await declareOutcome(w, 'exclusive', { durable: true, exclusive: true, arguments: STREAM }),
      autoDelete: await declareOutcome(w, 'auto-delete', {
        durable: true,
        autoDelete: true,
        arguments: STREAM,
      }),
      serverNamed: await attempt(w, async (ch) => {
        const ok = await ch.assertQueue('', { durable: true, arguments: STREAM });
        await ch.deleteQueue(ok.queue);
      }),
      unknownType: await declareOutcome(w, 'unknown-type', {
        durable: true,
        arguments: { 'x-queue-type': 'log' },
      }),
    })),
  expected: {
    autoDelete: '406 channel',
    durable: 'ok',
    exclusive: '406 channel',
    nonDurable: '406 channel',
    serverNamed: '406 channel',
    unknownType: '406 channel',
  },
};

/**
 * The arguments a stream honours, with their valid and invalid values. x-max-age is digits (not starting
 * the value with 0 as the whole number) and one unit of Y M D h m s, case-sensitive. The values RabbitMQ
 * answers with 541 INTERNAL_ERROR are in stream-malformed-max-age.
 */
export const streamDeclareArguments: Scenario = {
  name: 'stream-declare-arguments',
  run: (url) =>
    withWorld(url, async (w) => {
      const tries: [string, string, unknown][] = [
        ['x-max-age', '7D', '7D'],
        ['x-max-age', '1h', '1h'],
        ['x-max-age', '30s', '30s'],
        ['x-max-age', '1Y', '1Y'],
        ['x-max-age', '2M', '2M'],
        ['x-max-age', '1m', '1m'],
        ['x-max-age', '01s', '01s'],
        ['x-max-age', '100000000Y', '100000000Y'],
        ['x-max-age', '7d', '7d'],
        ['x-max-age', '10x', '10x'],
        ['x-max-age', '0s', '0s'],
        ['x-max-age', '1.5h', '1.5h'],
        ['x-max-age', '1h-trailing-space', '1h '],
        ['x-max-age', '10', '10'],
        ['x-max-age', '1D1h', '1D1h'],
        ['x-max-age', 'number 7', 7],
        ['x-max-length-bytes', '1000000', 1_000_000],
        ['x-max-length-bytes', '0', 0],
        ['x-max-length-bytes', '-1', -1],
        ['x-max-length-bytes', 'string', '1000'],
        ['x-stream-max-segment-size-bytes', '1000000', 1_000_000],
        ['x-stream-max-segment-size-bytes', '0', 0],
        ['x-stream-max-segment-size-bytes', '3000000000', 3_000_000_000],
        ['x-stream-max-segment-size-bytes', '3000000001', 3_000_000_001],
        ['x-stream-max-segment-size-bytes', '-1', -1],
        ['x-stream-max-segment-size-bytes', 'string', '1000'],
        ['x-initial-cluster-size', '1', 1],
        ['x-initial-cluster-size', '3', 3],
        ['x-initial-cluster-size', '0', 0],
        ['x-initial-cluster-size', '-1', -1],
        ['x-initial-cluster-size', 'string', '1'],
        ['x-queue-leader-locator', 'client-local', 'client-local'],
        ['x-queue-leader-locator', 'balanced', 'balanced'],
        ['x-queue-leader-locator', 'bogus', 'bogus'],
        ['x-unknown-argument', '1', 1],
      ];
      const outcomes = await Promise.all(
        tries.map(([arg, , value]) => streamDeclareOutcome(w, 'args', { [arg]: value })),
      );
      const out: Record<string, Record<string, string>> = {};
      tries.forEach(([arg, label], i) => {
        out[arg] = { ...out[arg], [label]: outcomes[i] as string };
      });
      return out;
    }),
  expected: {
    'x-initial-cluster-size': {
      '0': '406 channel',
      '1': 'ok',
      '3': 'ok',
      '-1': '406 channel',
      string: '406 channel',
    },
    'x-max-age': {
      '10': '406 channel',
      '01s': 'ok',
      '0s': '406 channel',
      '1.5h': '406 channel',
      '100000000Y': 'ok',
      '10x': '406 channel',
      '1D1h': '406 channel',
      '1Y': 'ok',
      '1h': 'ok',
      '1h-trailing-space': '406 channel',
      '1m': 'ok',
      '2M': 'ok',
      '30s': 'ok',
      '7D': 'ok',
      '7d': '406 channel',
      'number 7': '406 channel',
    },
    'x-max-length-bytes': { '0': 'ok', '1000000': 'ok', '-1': '406 channel', string: '406 channel' },
    'x-queue-leader-locator': { balanced: 'ok', bogus: '406 channel', 'client-local': 'ok' },
    'x-stream-max-segment-size-bytes': {
      '0': 'ok',
      '1000000': 'ok',
      '3000000000': 'ok',
      '3000000001': '406 channel',
      '-1': '406 channel',
      string: '406 channel',
    },
    'x-unknown-argument': { '1': 'ok' },
  },
};

/** Queue arguments of other queue types, each refused on a stream. */
export const streamDeclareUnsupportedArguments: Scenario = {
  name: 'stream-declare-unsupported-arguments',
  run: (url) =>
    withWorld(url, async (w) => {
      const args: [string, unknown][] = [
        ['x-max-length', 10],
        ['x-message-ttl', 1000],
        ['x-dead-letter-exchange', 'dlx'],
        ['x-dead-letter-routing-key', 'rk'],
        ['x-dead-letter-strategy', 'at-least-once'],
        ['x-max-priority', 10],
        ['x-expires', 10_000],
        ['x-overflow', 'reject-publish'],
        ['x-single-active-consumer', true],
        ['x-delivery-limit', 5],
        ['x-queue-mode', 'lazy'],
        ['x-queue-master-locator', 'client-local'],
        ['x-quorum-initial-group-size', 3],
        ['x-max-in-memory-length', 10],
        ['x-max-in-memory-bytes', 10],
      ];
      const outcomes = await Promise.all(
        args.map(([arg, value]) => streamDeclareOutcome(w, 'unsupported', { [arg]: value })),
      );
      return Object.fromEntries(args.map(([arg], i) => [arg, outcomes[i] as string]));
    }),
  expected: {
    'x-dead-letter-exchange': '406 channel',
    'x-dead-letter-routing-key': '406 channel',
    'x-dead-letter-strategy': '406 channel',
    'x-delivery-limit': '406 channel',
    'x-expires': '406 channel',
    'x-max-in-memory-bytes': '406 channel',
    'x-max-in-memory-length': '406 channel',
    'x-max-length': '406 channel',
    'x-max-priority': '406 channel',
    'x-message-ttl': '406 channel',
    'x-overflow': '406 channel',
    'x-queue-master-locator': '406 channel',
    'x-queue-mode': '406 channel',
    'x-quorum-initial-group-size': '406 channel',
    'x-single-active-consumer': '406 channel',
  },
};

/**
 * Redeclaring an existing stream: compared are durability, x-queue-type and the stream arguments it
 * honours; arguments it does not honour are then neither compared nor refused.
 */
export const streamRedeclare: Scenario = {
  name: 'stream-redeclare',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log', { 'x-max-age': '1h' });
      const classic = await w.queue('classic', { durable: true });
      const again = (args: Record<string, unknown> | undefined, durable = true) =>
        attempt(w, (ch) => ch.assertQueue(log, { durable, arguments: args }));
      return {
        same: await again({ ...STREAM, 'x-max-age': '1h' }),
        otherMaxAge: await again({ ...STREAM, 'x-max-age': '2h' }),
        withoutMaxAge: await again({ ...STREAM }),
        withoutArguments: await again(undefined),
        asClassic: await again({ 'x-queue-type': 'classic', 'x-max-age': '1h' }),
        asQuorum: await again({ 'x-queue-type': 'quorum', 'x-max-age': '1h' }),
        addedMaxLengthBytes: await again({ ...STREAM, 'x-max-age': '1h', 'x-max-length-bytes': 1000 }),
        nonDurable: await again({ ...STREAM, 'x-max-age': '1h' }, false),
        addedUnknownArgument: await again({ ...STREAM, 'x-max-age': '1h', 'x-unknown': 1 }),
        addedMaxLength: await again({ ...STREAM, 'x-max-age': '1h', 'x-max-length': 1 }),
        passive: await attempt(w, (ch) => ch.checkQueue(log)),
        classicAsStream: await attempt(w, (ch) =>
          ch.assertQueue(classic, { durable: true, arguments: STREAM }),
        ),
      };
    }),
  expected: {
    addedMaxLength: 'ok',
    addedMaxLengthBytes: '406 channel',
    addedUnknownArgument: 'ok',
    asClassic: '406 channel',
    asQuorum: '406 channel',
    classicAsStream: '406 channel',
    nonDurable: '406 channel',
    otherMaxAge: '406 channel',
    passive: 'ok',
    same: 'ok',
    withoutArguments: '406 channel',
    withoutMaxAge: '406 channel',
  },
};

/**
 * queue.declare-ok of a stream: RabbitMQ 3.10 always reports 0 consumers, and as the message count the
 * stream's length from its metrics, refreshed every few seconds: 0 shortly after publishing, the number
 * of messages in the stream later. The observation accepts either.
 */
export const streamDeclareOkCounts: Scenario = {
  name: 'stream-declare-ok-counts',
  run: (url) =>
    withWorld(url, async (w) => {
      const log = await declareStream(w, 'log');
      const fresh = await w.counts(log);
      await publishEach(w, log, ['m0', 'm1', 'm2']);
      await follow(w, log, 'first', 10);
      await follow(w, log, 'next', 10);
      const afterPublish = await w.counts(log);
      const ch = await w.channel();
      const redeclared = await ch.assertQueue(log, { durable: true, arguments: STREAM });
      const messages = (n: number) => (n === 0 || n === 3 ? 'none or all' : n);
      return {
        fresh,
        withTwoConsumers: {
          passive: { consumers: afterPublish.consumers, messages: messages(afterPublish.messages) },
          declare: { consumers: redeclared.consumerCount, messages: messages(redeclared.messageCount) },
        },
      };
    }),
  expected: {
    fresh: { consumers: 0, messages: 0 },
    withTwoConsumers: {
      declare: { consumers: 0, messages: 'none or all' },
      passive: { consumers: 0, messages: 'none or all' },
    },
  },
};

export const streamDeclareScenarios: Scenario[] = [
  streamDeclareFlags,
  streamDeclareArguments,
  streamDeclareUnsupportedArguments,
  streamRedeclare,
  streamDeclareOkCounts,
];
