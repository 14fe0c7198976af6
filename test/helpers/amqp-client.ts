import assert from 'node:assert/strict';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';

/** amqplib sets `.code` to the AMQP reply code on channel and connection close errors. */
export interface AmqpError extends Error {
  code?: number;
  classId?: number;
  methodId?: number;
}

const DEFAULT_WAIT_MS = 5_000;
const ignore = (): void => {};

/** Connects and swallows the connection's 'error' event (amqplib throws on an unhandled one). */
export async function connect(
  url: string,
  socketOptions?: amqp.Options.Connect | object,
): Promise<ChannelModel> {
  const conn = await amqp.connect(url, socketOptions as object);
  conn.on('error', ignore);
  return conn;
}

/** Runs `body` with a fresh connection and closes it afterwards, whether or not the server closed it first. */
export async function withConnection<T>(url: string, body: (conn: ChannelModel) => Promise<T>): Promise<T> {
  const conn = await connect(url);
  try {
    return await body(conn);
  } finally {
    await conn.close().catch(ignore);
  }
}

export async function openChannel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', ignore);
  return ch;
}

export async function openConfirmChannel(conn: ChannelModel): Promise<ConfirmChannel> {
  const ch = await conn.createConfirmChannel();
  ch.on('error', ignore);
  return ch;
}

/** A promise that rejects with the error the server closes this channel with (e.g. after a bad publish). */
export function channelClosed(ch: Channel): Promise<never> {
  return new Promise<never>((_, reject) => {
    ch.once('error', reject);
    ch.once('close', () => reject(new Error('channel closed without an error')));
  });
}

/** A promise that rejects with the error carried by the connection's 'close' event. */
export function connectionClosed(conn: ChannelModel): Promise<never> {
  return new Promise<never>((_, reject) => {
    conn.once('close', (err?: Error) => reject(err ?? new Error('connection closed without an error')));
  });
}

async function expectClose(what: string, promise: Promise<unknown>, code: number | readonly number[]) {
  const codes = typeof code === 'number' ? [code] : code;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((done) => {
    timer = setTimeout(() => done('timeout'), DEFAULT_WAIT_MS);
  });
  try {
    const outcome = await Promise.race([
      promise.then(
        () => ({ ok: true as const }),
        (err: unknown) => ({ ok: false as const, err: err as AmqpError }),
      ),
      timeout,
    ]);
    assert.notEqual(outcome, 'timeout', `expected a ${what} close with ${codes.join(' or ')}, got nothing`);
    if (outcome === 'timeout') throw new Error('unreachable');
    assert.equal(outcome.ok, false, `expected a ${what} close with ${codes.join(' or ')}, but it succeeded`);
    if (outcome.ok) throw new Error('unreachable');
    assert.ok(
      outcome.err.code !== undefined && codes.includes(outcome.err.code),
      `expected ${what} close code ${codes.join(' or ')}, got ${outcome.err.code}: ${outcome.err.message}`,
    );
    return outcome.err;
  } finally {
    clearTimeout(timer);
  }
}

/** Asserts that `promise` rejects with a channel close carrying one of the given reply codes. */
export function expectChannelClose(promise: Promise<unknown>, code: number | readonly number[]) {
  return expectClose('channel', promise, code);
}

/** Asserts that `promise` rejects with a connection close carrying one of the given reply codes. */
export function expectConnectionClose(promise: Promise<unknown>, code: number | readonly number[]) {
  return expectClose('connection', promise, code);
}

export interface CollectOptions {
  noAck?: boolean;
  timeoutMs?: number;
}

/** Consumes exactly `n` messages from `queue`, cancels the consumer and returns them in delivery order. */
export async function collect(
  ch: Channel,
  queue: string,
  n: number,
  opts: CollectOptions = {},
): Promise<ConsumeMessage[]> {
  const received: ConsumeMessage[] = [];
  const timeoutMs = opts.timeoutMs ?? DEFAULT_WAIT_MS;
  let finish: () => void = ignore;
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  if (n === 0) finish();
  const { consumerTag } = await ch.consume(
    queue,
    (msg) => {
      if (msg === null) return;
      received.push(msg);
      if (received.length === n) finish();
    },
    { noAck: opts.noAck ?? true },
  );
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const outcome = await Promise.race([done, timedOut]);
  clearTimeout(timer);
  await ch.cancel(consumerTag);
  if (outcome === 'timeout') {
    throw new Error(`collect(${queue}): got ${received.length} of ${n} messages within ${timeoutMs} ms`);
  }
  return received;
}

/** Polls `probe` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T> | T,
  what: string,
  timeoutMs = DEFAULT_WAIT_MS,
  intervalMs = 20,
): Promise<Exclude<T, false | null | undefined | 0 | ''>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as Exclude<T, false | null | undefined | 0 | ''>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Checks whether a queue exists, on a throwaway channel (a passive declare of a missing queue closes it). */
export async function queueExists(conn: ChannelModel, queue: string): Promise<boolean> {
  return probeExists(conn, (ch) => ch.checkQueue(queue));
}

export async function exchangeExists(conn: ChannelModel, exchange: string): Promise<boolean> {
  return probeExists(conn, (ch) => ch.checkExchange(exchange));
}

async function probeExists(conn: ChannelModel, probe: (ch: Channel) => Promise<unknown>): Promise<boolean> {
  const ch = await openChannel(conn);
  try {
    await probe(ch);
  } catch (err) {
    if ((err as AmqpError).code === 404) return false;
    // 405: it exists but is exclusive to another connection.
    if ((err as AmqpError).code === 405) return true;
    throw err;
  }
  await ch.close();
  return true;
}

/** Gets one message or fails; for tests that know a message is there. */
export async function getOne(ch: Channel, queue: string, noAck = true) {
  const msg = await ch.get(queue, { noAck });
  assert.ok(msg, `expected a message on ${queue}`);
  return msg;
}
