import type { Channel, Message, Options } from 'amqplib';
import { connect, openChannel } from '../../helpers/amqp-client.js';
import { confirmOf, GRACE_MS, Recorder, type ScenarioWorld, sleep } from '../scenario-world.js';

/** What the stream scenarios share: declaring streams, publishing one chunk per message, reading offsets. */

export const STREAM = { 'x-queue-type': 'stream' } as const;

/** Declares a durable stream (a stream cannot be anything else), deleted when the world closes. */
export function declareStream(
  w: ScenarioWorld,
  label: string,
  args: Record<string, unknown> = {},
): Promise<string> {
  return w.queue(label, { durable: true, arguments: { ...STREAM, ...args } });
}

/**
 * Publishes each body to `queue` through the default exchange and waits for its confirm before the next.
 * RabbitMQ then writes one chunk per message, which keeps 'last', timestamps and prefetch credit per
 * message: RabbitMQ reads whole chunks, so a chunk of several messages can overrun a consumer's credit.
 */
export async function publishEach(
  w: ScenarioWorld,
  queue: string,
  bodies: string[],
  options: Options.Publish = {},
): Promise<('ack' | 'nack')[]> {
  const ch = await w.confirmChannel();
  const confirms: ('ack' | 'nack')[] = [];
  for (const body of bodies) confirms.push(await confirmOf(ch, '', queue, body, options));
  await ch.close();
  return confirms;
}

/**
 * A consumer on its own channel (prefetch `prefetch`) reading `queue` from `offset` (none: no argument);
 * `onMessage` sees each delivery as it arrives, e.g. to ack it.
 */
export async function follow(
  w: ScenarioWorld,
  queue: string,
  offset?: unknown,
  prefetch = 50,
  onMessage?: (ch: Channel, msg: Message) => void,
): Promise<{ ch: Channel; rec: Recorder }> {
  const ch = await w.channel();
  await ch.prefetch(prefetch);
  const args = offset === undefined ? {} : { 'x-stream-offset': offset };
  const rec = await Recorder.consume(ch, queue, { noAck: false, arguments: args }, (msg) =>
    onMessage?.(ch, msg),
  );
  return { ch, rec };
}

/** A delivery as `body@offset` (x-stream-offset header), with ' redelivered' when so flagged. */
export function seen(msg: Message): string {
  const offset = msg.properties.headers?.['x-stream-offset'];
  const at =
    offset === undefined ? 'none' : typeof offset === 'number' ? String(offset) : JSON.stringify(offset);
  return `${msg.content.toString('utf8')}@${at}${msg.fields.redelivered ? ' redelivered' : ''}`;
}

/**
 * Runs `body` on a channel of a connection of its own and reports how the broker answered: 'ok', or the
 * reply code and what it closed, e.g. '406 channel' or '540 connection'. `outcome()` sees only channel
 * closes: a connection-level refusal fails the pending call without a code, which arrives with the
 * connection's close instead. After `body` a round trip on the channel makes sure that the refusal of a
 * method without a reply (ack, nack, publish) has arrived before 'ok' is reported.
 */
export async function attempt(w: ScenarioWorld, body: (ch: Channel) => Promise<unknown>): Promise<string> {
  const conn = await connect(w.url);
  let connectionCode: number | undefined;
  const closed = new Promise<void>((done) => {
    conn.once('close', (err?: { code?: unknown }) => {
      if (typeof err?.code === 'number') connectionCode = err.code;
      done();
    });
  });
  try {
    const ch = await openChannel(conn);
    try {
      await body(ch);
      await ch.checkExchange('amq.direct');
      return 'ok';
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'number') return `${code} channel`;
      await Promise.race([closed, sleep(GRACE_MS)]);
      return connectionCode === undefined ? 'no-code' : `${connectionCode} connection`;
    }
  } finally {
    await conn.close().catch(() => {});
  }
}

/** `attempt` of a queue.declare under a fresh name; a queue it creates is deleted again. */
export async function declareOutcome(
  w: ScenarioWorld,
  label: string,
  options: Options.AssertQueue,
): Promise<string> {
  const name = w.name(label);
  const result = await attempt(w, (ch) => ch.assertQueue(name, options));
  if (result === 'ok') await deleteQueue(w, name);
  return result;
}

/** `declareOutcome` of a durable stream with these extra arguments. */
export function streamDeclareOutcome(
  w: ScenarioWorld,
  label: string,
  args: Record<string, unknown>,
): Promise<string> {
  return declareOutcome(w, label, { durable: true, arguments: { ...STREAM, ...args } });
}

export async function deleteQueue(w: ScenarioWorld, name: string): Promise<void> {
  const ch = await w.channel();
  await ch.deleteQueue(name).catch(() => {});
  await ch.close().catch(() => {});
}

/** An AMQP field value of an explicit type, as amqplib encodes it (`{ '!': type, value }`). */
export function typed(type: string, value: unknown): unknown {
  return { '!': type, value };
}

/** Seconds since the epoch, as an AMQP timestamp field carries them. */
export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
