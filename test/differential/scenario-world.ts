import type { Channel, ChannelModel, ConfirmChannel, GetMessage, Message, Options } from 'amqplib';
import { connect, openChannel, openConfirmChannel } from '../helpers/amqp-client.js';
import { uniqueName } from '../helpers/unique-name.js';
import type { Observation } from './scenario.js';

/** How long a scenario waits for deliveries it expects before reporting what it got. */
export const WAIT_MS = 2_000;
/** How long a scenario waits to be sure something does NOT happen (a drop, no redelivery). */
export const GRACE_MS = 300;
const POLL_MS = 20;
/** x-death times must be within this many seconds of the test's clock to count as real timestamps. */
const CLOCK_SLACK_S = 24 * 3600;

/**
 * The broker-side world one scenario runs in: its own connection, uniquely named entities that are
 * deleted afterwards, and the normalisation that makes two brokers' observations comparable.
 */
export class ScenarioWorld {
  private readonly labels = new Map<string, string>();
  private readonly queues: string[] = [];
  private readonly exchanges: string[] = [];
  private readonly extraConnections: ChannelModel[] = [];

  private constructor(
    readonly url: string,
    readonly conn: ChannelModel,
  ) {}

  static async open(url: string): Promise<ScenarioWorld> {
    return new ScenarioWorld(url, await connect(url));
  }

  /** A run-unique name that the observation reports as `<label>`. */
  name(label: string): string {
    const name = uniqueName(`d-${label}`);
    this.labels.set(name, `<${label}>`);
    return name;
  }

  channel(): Promise<Channel> {
    return openChannel(this.conn);
  }

  confirmChannel(): Promise<ConfirmChannel> {
    return openConfirmChannel(this.conn);
  }

  /** A second connection, closed with the world: for consumers whose channel a scenario closes. */
  async connection(): Promise<ChannelModel> {
    const conn = await connect(this.url);
    this.extraConnections.push(conn);
    return conn;
  }

  /** Declares a uniquely named queue, deleted when the world closes; returns its name. */
  queue(label: string, options: Options.AssertQueue = {}): Promise<string> {
    return this.declareQueue(this.name(label), options);
  }

  /** Declares a queue under a name from `name()`: for queues whose arguments refer to each other. */
  async declareQueue(name: string, options: Options.AssertQueue = {}): Promise<string> {
    const ch = await this.channel();
    await ch.assertQueue(name, { durable: false, ...options });
    this.queues.push(name);
    await ch.close();
    return name;
  }

  async exchange(label: string, type: string, options: Options.AssertExchange = {}): Promise<string> {
    const name = this.name(label);
    const ch = await this.channel();
    await ch.assertExchange(name, type, { durable: false, ...options });
    this.exchanges.push(name);
    await ch.close();
    return name;
  }

  async bind(queue: string, exchange: string, routingKey: string): Promise<void> {
    const ch = await this.channel();
    await ch.bindQueue(queue, exchange, routingKey);
    await ch.close();
  }

  /** Ready-message and consumer counts as queue.declare-ok (passive) reports them. */
  async counts(queue: string): Promise<{ messages: number; consumers: number }> {
    const ch = await this.channel();
    const ok = await ch.checkQueue(queue);
    await ch.close();
    return { messages: ok.messageCount, consumers: ok.consumerCount };
  }

  /** Waits (up to WAIT_MS) until `queue` holds at least `n` ready messages, then drains it. */
  async settle(queue: string, n: number): Promise<GetMessage[]> {
    const deadline = Date.now() + WAIT_MS;
    while ((await this.counts(queue)).messages < n && Date.now() < deadline) await sleep(POLL_MS);
    return this.drain(queue);
  }

  /** Drains `queue` with basic.get (no-ack) and returns the messages in order. */
  async drain(queue: string): Promise<GetMessage[]> {
    const ch = await this.channel();
    const out: GetMessage[] = [];
    for (;;) {
      const msg = await ch.get(queue, { noAck: true });
      if (msg === false) break;
      out.push(msg);
    }
    await ch.close();
    return out;
  }

  /**
   * An error text with this run's names replaced by their labels and server-generated names (amq.gen-…,
   * amq.ctag-…) by a placeholder, so two brokers' texts compare equal.
   */
  normaliseText(text: string): string {
    let out = text.replace(/amq\.(gen|ctag)-[A-Za-z0-9_-]+/g, 'amq.$1-<generated>');
    // Longest first: one name may be a prefix of another ("d-q-run-1" and "d-q-run-12").
    for (const name of [...this.labels.keys()].sort((a, b) => b.length - a.length)) {
      out = out.split(name).join(this.labels.get(name)!);
    }
    return out;
  }

  /** Replaces this run's entity names by their labels and x-death times by 'timestamp'. */
  normalise(value: unknown): Observation {
    return normaliseValue(value, this.labels);
  }

  async close(): Promise<void> {
    const ch = await this.channel().catch(() => undefined);
    if (ch !== undefined) {
      for (const q of this.queues) await ch.deleteQueue(q).catch(() => {});
      for (const x of this.exchanges) await ch.deleteExchange(x).catch(() => {});
      await ch.close().catch(() => {});
    }
    for (const c of this.extraConnections) await c.close().catch(() => {});
    await this.conn.close().catch(() => {});
  }
}

/** Runs a scenario body in a fresh world and returns its normalised observation. */
export async function withWorld(
  url: string,
  body: (w: ScenarioWorld) => Promise<unknown>,
): Promise<Observation> {
  const world = await ScenarioWorld.open(url);
  try {
    return world.normalise(await body(world));
  } finally {
    await world.close();
  }
}

/** What a client sees of a delivered message, minus what is incidental (tags, ids). */
export function describeMessage(msg: Message): Record<string, unknown> {
  const p = msg.properties;
  const out: Record<string, unknown> = {
    body: msg.content.toString('utf8'),
    exchange: msg.fields.exchange,
    routingKey: msg.fields.routingKey,
    redelivered: msg.fields.redelivered,
  };
  if (p.expiration !== undefined) out.expiration = p.expiration;
  if (p.priority !== undefined) out.priority = p.priority;
  if (p.headers !== undefined && Object.keys(p.headers).length > 0) out.headers = p.headers;
  return out;
}

/** Publishes through a confirm channel and resolves with the broker's answer to this one message. */
export function confirmOf(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: string,
  options: Options.Publish = {},
): Promise<'ack' | 'nack'> {
  return new Promise((done) => {
    ch.publish(exchange, routingKey, Buffer.from(body), options, (err: unknown) =>
      done(err ? 'nack' : 'ack'),
    );
  });
}

export function bodies(msgs: Message[]): string[] {
  return msgs.map((m) => m.content.toString('utf8'));
}

/** The failure a broker answered with: its reply code, or 'ok' when the operation succeeded. */
export async function outcome(promise: Promise<unknown>): Promise<number | 'ok' | 'no-code'> {
  try {
    await promise;
    return 'ok';
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'number' ? code : 'no-code';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/**
 * A consumer that records deliveries; `next(n)` waits until n have arrived (or WAIT_MS passed), so a
 * broker lacking a feature yields a short observation instead of a hang.
 */
export class Recorder {
  readonly received: Message[] = [];
  private waiters: { n: number; done: () => void }[] = [];
  consumerTag = '';

  constructor(private readonly onMessage?: (msg: Message) => void) {}

  static async consume(
    ch: Channel,
    queue: string,
    options: Options.Consume = {},
    onMessage?: (msg: Message) => void,
  ): Promise<Recorder> {
    const rec = new Recorder(onMessage);
    const ok = await ch.consume(queue, (msg) => rec.push(msg), options);
    rec.consumerTag = ok.consumerTag;
    return rec;
  }

  push(msg: Message | null): void {
    if (msg === null) return;
    this.received.push(msg);
    this.onMessage?.(msg);
    this.waiters = this.waiters.filter((w) => {
      if (this.received.length < w.n) return true;
      w.done();
      return false;
    });
  }

  /** Resolves once `n` messages in total have arrived, or after `timeoutMs` with fewer. */
  async until(n: number, timeoutMs = WAIT_MS): Promise<Message[]> {
    if (this.received.length >= n) return this.received;
    await new Promise<void>((done) => {
      const timer = setTimeout(done, timeoutMs);
      this.waiters.push({
        n,
        done: () => {
          clearTimeout(timer);
          done();
        },
      });
    });
    return this.received;
  }
}

function normaliseValue(value: unknown, labels: Map<string, string>): Observation {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return labels.get(value) ?? value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value)) return { binary: value.toString('utf8') };
  if (Array.isArray(value)) return value.map((v) => normaliseValue(v, labels));
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (record['!'] === 'timestamp') return describeTimestamp(record.value);
    const out: { [key: string]: Observation } = {};
    for (const key of Object.keys(record).sort()) {
      if (record[key] === undefined) continue;
      out[labels.get(key) ?? key] = normaliseValue(record[key], labels);
    }
    return out;
  }
  return String(value);
}

/** A timestamp field becomes 'timestamp' when it is a plausible "now" in seconds, so runs compare equal. */
function describeTimestamp(v: unknown): Observation {
  const now = Date.now() / 1000;
  if (typeof v === 'number' && Math.abs(v - now) < CLOCK_SLACK_S) return 'timestamp';
  return `implausible-timestamp:${String(v)}`;
}
