/**
 * `eventter stream tail`: reads a stream over AMQP 0-9-1 (prefetch, acks) and prints its messages.
 *
 * Stop rule without --follow: the end is the stream's last message at the time tail starts, found by a passive
 * declare (message count, 0 = empty) and a probe consumer at x-stream-offset "last", whose one delivery carries
 * that offset. Offsets are dense from the first message to the last (retention only removes the oldest), so
 * the read is complete once the end offset arrived; later messages are not printed. A start that can lie past
 * the end is settled before subscribing when it can be (next, an offset after the end); a time or an interval
 * cannot be checked from the client (deliveries carry no store time), so such a read also ends after
 * `idleMs` without any delivery. A consumer-group member may never see the end offset (a fellow member
 * may take it), so it ends after `idleMs` without a delivery as well.
 */
import type { DeliveredMessage } from '../client/channel.js';
import { AmqpClientError } from '../client/client-error.js';
import { type Connection, connect } from '../client/connection.js';
import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { jsonRecord, streamOffset, type TailMessage, textRecord } from './stream-record.js';

export type StreamFrom =
  | { kind: 'first' | 'last' | 'next' }
  | { kind: 'offset'; offset: number }
  | { kind: 'time'; ms: number }
  | { kind: 'interval'; text: string };

export interface TailOptions {
  stream: string;
  vhost: string;
  /** amqp:// URL with the vhost applied. */
  url: string;
  /** host:port, for messages (the URL may hold a password). */
  endpoint: string;
  from: StreamFrom;
  follow: boolean;
  group?: string;
  json: boolean;
  prefetch: number;
  /** See the stop rule above. */
  idleMs: number;
  /** Interval of progress lines on stderr while catching up. */
  progressMs: number;
}

export interface TailIo {
  /** Writes to stdout; `written` runs once the OS took the text (only then is the message acked). */
  stdout: (text: string, written: () => void) => void;
  stderr: (text: string) => void;
  /** Aborted on Ctrl-C / SIGTERM. */
  signal: AbortSignal;
}

export const TAIL_EXIT_OK = 0;
export const TAIL_EXIT_FAILED = 1;
/** A read without --follow interrupted before it reached the end: the output is incomplete. */
export const TAIL_EXIT_INTERRUPTED = 130;

const PROBE_TIMEOUT_MS = 30_000;

/** The x-stream-offset argument for a start; a time goes as an AMQP timestamp (whole seconds). */
export function streamOffsetArgument(from: StreamFrom): FieldValue {
  switch (from.kind) {
    case 'offset':
      return from.offset;
    case 'time':
      return new Date(from.ms);
    case 'interval':
      return from.text;
    default:
      return from.kind;
  }
}

/** Runs tail to the end (or until stopped); resolves to the exit code. Never throws for broker errors. */
export async function runTail(opts: TailOptions, io: TailIo): Promise<number> {
  const fail = (err: unknown): number => {
    io.stderr(`eventter stream tail: ${explain(err, opts)}\n`);
    return TAIL_EXIT_FAILED;
  };
  const stopCode = opts.follow ? TAIL_EXIT_OK : TAIL_EXIT_INTERRUPTED;
  if (io.signal.aborted) return stopCode;
  let conn: Connection;
  try {
    conn = await connect({ url: opts.url, connectionName: `eventter stream tail ${opts.stream}` });
  } catch (err) {
    if (io.signal.aborted) return stopCode;
    if (err instanceof AmqpClientError && err.replyCode === 0 && err.kind !== 'url') {
      io.stderr(`eventter stream tail: cannot connect to ${opts.endpoint}: ${err.message}\n`);
      return TAIL_EXIT_FAILED;
    }
    return fail(err);
  }
  // A signal during the set-up drops the connection, which fails whatever is pending.
  const onAbort = () => conn.destroy('interrupted');
  io.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const last = await findLastOffset(conn, opts.stream);
    io.signal.removeEventListener('abort', onAbort);
    if (io.signal.aborted) return stopCode;
    return await consume(conn, opts, io, last);
  } catch (err) {
    if (io.signal.aborted) return stopCode;
    if (!(err instanceof AmqpClientError)) throw err;
    return fail(err);
  } finally {
    io.signal.removeEventListener('abort', onAbort);
    await conn.close().catch(() => {});
  }
}

/**
 * The offset of the stream's last message, or null when it is empty. Also proves the queue is a stream: any
 * other queue type refuses a consumer with x-stream-offset (406), so this never takes a message from one.
 */
async function findLastOffset(conn: Connection, stream: string): Promise<number | null> {
  const ch = await conn.createChannel();
  const { messageCount } = await ch.queueDeclare(stream, { passive: true });
  await ch.qos(1);
  let settle: { resolve: (offset: number) => void; reject: (err: Error) => void } | undefined;
  const delivered = new Promise<number>((resolve, reject) => {
    settle = { resolve, reject };
  });
  delivered.catch(() => {}); // an empty stream never awaits it
  await ch.consumeMessages(
    stream,
    (m) => {
      const offset = streamOffset(m.properties.headers);
      if (offset !== undefined) settle?.resolve(offset);
      else settle?.reject(new AmqpClientError('protocol', 'a delivery without x-stream-offset'));
    },
    {
      arguments: { 'x-stream-offset': 'last' },
      onCancel: (reason) =>
        settle?.reject(reason ?? new AmqpClientError('channel', 'the stream was deleted')),
    },
  );
  let last: number | null = null;
  if (messageCount > 0) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new AmqpClientError('timeout', 'the broker did not deliver the last message')),
        PROBE_TIMEOUT_MS,
      );
    });
    try {
      last = await Promise.race([delivered, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
  await ch.close();
  return last;
}

async function consume(
  conn: Connection,
  opts: TailOptions,
  io: TailIo,
  last: number | null,
): Promise<number> {
  const { from } = opts;
  if (!opts.follow) {
    // Settled before subscribing: nothing lies between the start and the end.
    if (last === null) return TAIL_EXIT_OK;
    if (opts.group === undefined) {
      if (from.kind === 'next') return TAIL_EXIT_OK;
      if (from.kind === 'offset' && from.offset > last) return TAIL_EXIT_OK;
    }
  }
  const end = opts.follow ? null : last;
  const idleGuard =
    !opts.follow && (opts.group !== undefined || from.kind === 'time' || from.kind === 'interval');
  const format = opts.json ? jsonRecord : textRecord;

  const ch = await conn.createChannel();
  await ch.qos(opts.prefetch);
  const args: FieldTable = { 'x-stream-offset': streamOffsetArgument(from) };
  if (opts.group !== undefined) args['x-consumer-group'] = opts.group;

  return new Promise<number>((resolve) => {
    let finishing = false;
    let pendingWrites = 0;
    let writesDone: (() => void) | null = null;
    let ackTag = 0;
    let ackedTag = 0;
    let ackScheduled = false;
    let printed = 0;
    let lastOffset = -1;
    let idleTimer: NodeJS.Timeout | undefined;
    const started = Date.now();
    let progressAt = { time: started, printed: 0 };

    const flushAck = (): void => {
      ackScheduled = false;
      if (ackTag > ackedTag && ch.isOpen) {
        ch.ack(ackTag, true); // one multiple-ack per turn of the event loop
        ackedTag = ackTag;
      }
    };
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      if (idleGuard && !finishing) idleTimer = setTimeout(() => finish(TAIL_EXIT_OK), opts.idleMs);
    };
    const progressTarget = end ?? last;
    const progress = setInterval(() => {
      if (printed === 0 || progressTarget === null || lastOffset >= progressTarget) return;
      const now = Date.now();
      const rate = ((printed - progressAt.printed) * 1000) / Math.max(1, now - progressAt.time);
      progressAt = { time: now, printed };
      io.stderr(
        `eventter stream tail: at offset ${lastOffset} of ${progressTarget}, ${Math.round(rate)} messages/s\n`,
      );
    }, opts.progressMs);
    progress.unref();
    const onAbort = () => finish(opts.follow ? TAIL_EXIT_OK : TAIL_EXIT_INTERRUPTED);

    /** Stops taking deliveries, lets printed ones be acked (a group commits them), then closes the channel. */
    function finish(code: number, message?: string): void {
      if (finishing) return;
      finishing = true;
      clearTimeout(idleTimer);
      clearInterval(progress);
      io.signal.removeEventListener('abort', onAbort);
      if (message !== undefined) io.stderr(`eventter stream tail: ${message}\n`);
      const writes =
        pendingWrites === 0
          ? Promise.resolve()
          : new Promise<void>((done) => {
              writesDone = done;
            });
      void writes
        .then(async () => {
          flushAck();
          await ch.close(); // close-ok comes after the acks: they were applied
        })
        .catch(() => {})
        .finally(() => resolve(code));
    }

    const onMessage = (m: DeliveredMessage): void => {
      if (finishing) return;
      const offset = streamOffset(m.properties.headers);
      if (offset === undefined) return finish(TAIL_EXIT_FAILED, 'a delivery without x-stream-offset');
      if (end !== null && offset > end) return finish(TAIL_EXIT_OK); // the start lay past the end
      const record: TailMessage = {
        offset,
        exchange: m.exchange,
        routingKey: m.routingKey,
        properties: m.properties,
        body: m.body,
      };
      const tag = m.deliveryTag;
      pendingWrites++;
      io.stdout(`${format(record)}\n`, () => {
        pendingWrites--;
        if (tag > ackTag) ackTag = tag;
        if (!ackScheduled && !finishing) {
          ackScheduled = true;
          setImmediate(flushAck);
        }
        if (pendingWrites === 0) writesDone?.();
      });
      printed++;
      lastOffset = offset;
      if (end !== null && offset >= end) return finish(TAIL_EXIT_OK);
      // Without a group the end is sure to come once anything came; a group member may see gaps.
      if (opts.group !== undefined) armIdle();
      else clearTimeout(idleTimer);
    };

    io.signal.addEventListener('abort', onAbort, { once: true });
    ch.consumeMessages(opts.stream, onMessage, {
      arguments: args,
      onCancel: (reason) => {
        if (finishing) return;
        if (reason === null) finish(TAIL_EXIT_FAILED, `${describe(opts)} was deleted`);
        else finish(TAIL_EXIT_FAILED, explain(reason, opts));
      },
    }).then(
      () => {
        if (printed === 0) armIdle();
      },
      (err: unknown) => finish(TAIL_EXIT_FAILED, explain(err, opts)),
    );
  });
}

const describe = (opts: TailOptions): string => `stream '${opts.stream}' in vhost '${opts.vhost}'`;

/** One line for what went wrong, in the user's terms where the reply code says enough. */
function explain(err: unknown, opts: TailOptions): string {
  if (err instanceof AmqpClientError) {
    if (err.replyCode === 404) return `no ${describe(opts)}`;
    if (err.replyCode === 406 && /x-stream-offset/.test(err.message) && /queue type/.test(err.message)) {
      return `queue '${opts.stream}' in vhost '${opts.vhost}' is not a stream`;
    }
    if (err.replyCode === 403 || err.replyCode === 530) return `${err.message} (user or vhost refused)`;
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}
