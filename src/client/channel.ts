/**
 * One AMQP channel of a client connection: synchronous methods (declare, bind, qos, consume...) as
 * promises answered in order, publishing with optional confirms, and deliveries to consumers.
 * Deliveries reach the handler as (body, deliveryTag, redelivered) with no per-message object; a body
 * that arrived in one frame aliases the socket chunk, so copy it if it must outlive the call.
 */
import { type BasicProperties, decodeBasicProperties } from '../codec/basic-properties.js';
import type { FieldTable } from '../codec/field-table.js';
import { type AmqpMethod, decodeMethod } from '../protocols/amqp091/generated/methods.js';
import { AmqpClientError } from './client-error.js';
import { ConfirmTracker } from './confirm-tracker.js';
import type { OutputBuffer } from './output-buffer.js';
import { writeAck, writePublish } from './publish-encoder.js';

export type DeliveryHandler = (body: Buffer, deliveryTag: number, redelivered: boolean) => void;

/** A delivery with its envelope and decoded properties (consumeMessages); slower than DeliveryHandler. */
export interface DeliveredMessage {
  /** May alias the socket chunk: copy it if it must outlive the handler call. */
  body: Buffer;
  deliveryTag: number;
  redelivered: boolean;
  exchange: string;
  routingKey: string;
  properties: BasicProperties;
}

export type MessageHandler = (message: DeliveredMessage) => void;

/** What a channel needs from its connection. */
export interface ChannelHost {
  readonly out: OutputBuffer;
  readonly frameMax: number;
  readonly maxBodySize: number;
  /** True when more output is queued than the socket should hold: publishers should await drained(). */
  readonly backedUp: boolean;
  sendMethod(channel: number, method: AmqpMethod): void;
  channelClosed(channel: Channel): void;
  /** Asks for flushAcks() after the current socket chunk is parsed. */
  scheduleAckFlush(channel: Channel): void;
}

export interface QueueDeclareOptions {
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  passive?: boolean;
  arguments?: FieldTable;
}

export interface ConsumeOptions {
  /** Broker settles on delivery (no acks). Default false. */
  noAck?: boolean;
  /**
   * With noAck false: acknowledge automatically, one multiple-ack per received socket chunk
   * (covering every delivery in it), instead of calling ack() yourself. Default false.
   */
  batchAck?: boolean;
  consumerTag?: string;
  exclusive?: boolean;
  /** basic.consume arguments, e.g. { 'x-stream-offset': 'first' }. */
  arguments?: FieldTable;
  /**
   * The consumer ended without cancel() from this side: the broker cancelled it (queue deleted; reason
   * null) or the channel or connection closed (reason: why).
   */
  onCancel?: (reason: Error | null) => void;
}

interface Consumer {
  tag: string;
  handler: DeliveryHandler;
  batchAck: boolean;
  /** Set by consumeMessages: deliveries are parsed fully and go here instead of `handler`. */
  messageHandler?: MessageHandler;
  onCancel?: (reason: Error | null) => void;
}

interface PendingRpc {
  /** classId * 65536 + methodId of the expected reply. */
  reply: number;
  resolve: (m: AmqpMethod) => void;
  reject: (err: Error) => void;
}

const CONTENT_NONE = 0;
const CONTENT_DELIVER = 1;
const CONTENT_DISCARD = 2;

const MAX_SHORTSTR = 255;
const encodedNames = new Map<string, Buffer>();
const MAX_CACHED_NAMES = 10_000;

/** UTF-8 bytes of an exchange or routing key, cached because publishers repeat them. */
function shortstr(s: string | Buffer): Buffer {
  if (typeof s !== 'string') {
    if (s.length > MAX_SHORTSTR) throw new AmqpClientError('protocol', 'short string longer than 255 bytes');
    return s;
  }
  let b = encodedNames.get(s);
  if (b === undefined) {
    b = Buffer.from(s, 'utf8');
    if (b.length > MAX_SHORTSTR) throw new AmqpClientError('protocol', 'short string longer than 255 bytes');
    if (encodedNames.size < MAX_CACHED_NAMES) encodedNames.set(s, b);
  }
  return b;
}

const key = (classId: number, methodId: number): number => classId * 65536 + methodId;

export class Channel {
  private readonly rpcs: PendingRpc[] = [];
  private readonly consumers = new Map<string, Consumer>();
  private confirms: ConfirmTracker | null = null;
  private closedWith: Error | null = null;

  // Content (header + body frames) following a basic.deliver / basic.return / basic.get-ok.
  private contentKind = CONTENT_NONE;
  private contentConsumer: Consumer | null = null;
  private contentTag = 0;
  private contentRedelivered = false;
  private contentExchange = '';
  private contentRoutingKey = '';
  private contentProperties: BasicProperties = {};
  private bodySize = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;

  private pendingAckTag = 0;
  private ackScheduled = false;

  /** Messages published on this channel. */
  published = 0;
  /** Deliveries received on this channel. */
  delivered = 0;

  constructor(
    readonly id: number,
    private readonly host: ChannelHost,
  ) {}

  get isOpen(): boolean {
    return this.closedWith === null;
  }

  /** Publishes awaiting a confirm (0 when confirms are off). */
  get unconfirmed(): number {
    return this.confirms === null ? 0 : this.confirms.outstanding;
  }

  get nacked(): number {
    return this.confirms === null ? 0 : this.confirms.nacked;
  }

  // ---- synchronous methods

  /** @internal Sends channel.open and waits for open-ok. */
  async open(): Promise<void> {
    await this.rpc({ name: 'channel.open', classId: 20, methodId: 10 }, key(20, 11));
  }

  async close(): Promise<void> {
    if (this.closedWith !== null) return;
    await this.rpc(
      {
        name: 'channel.close',
        classId: 20,
        methodId: 40,
        replyCode: 200,
        replyText: 'bye',
        failingClassId: 0,
        failingMethodId: 0,
      },
      key(20, 41),
    );
    this.shutdown(new AmqpClientError('closed', 'channel closed by the client'));
  }

  async qos(prefetchCount: number, global = false): Promise<void> {
    await this.rpc(
      { name: 'basic.qos', classId: 60, methodId: 10, prefetchSize: 0, prefetchCount, global },
      key(60, 11),
    );
  }

  async confirmSelect(): Promise<void> {
    await this.rpc({ name: 'confirm.select', classId: 85, methodId: 10, noWait: false }, key(85, 11));
    if (this.confirms === null) this.confirms = new ConfirmTracker();
  }

  async exchangeDeclare(
    exchange: string,
    type: string,
    options: { durable?: boolean; autoDelete?: boolean; arguments?: FieldTable } = {},
  ): Promise<void> {
    await this.rpc(
      {
        name: 'exchange.declare',
        classId: 40,
        methodId: 10,
        exchange,
        type,
        passive: false,
        durable: options.durable ?? false,
        autoDelete: options.autoDelete ?? false,
        internal: false,
        noWait: false,
        arguments: options.arguments ?? {},
      },
      key(40, 11),
    );
  }

  async exchangeDelete(exchange: string): Promise<void> {
    await this.rpc(
      { name: 'exchange.delete', classId: 40, methodId: 20, exchange, ifUnused: false, noWait: false },
      key(40, 21),
    );
  }

  async queueDeclare(
    queue: string,
    options: QueueDeclareOptions = {},
  ): Promise<{ queue: string; messageCount: number; consumerCount: number }> {
    const ok = await this.rpc(
      {
        name: 'queue.declare',
        classId: 50,
        methodId: 10,
        queue,
        passive: options.passive ?? false,
        durable: options.durable ?? false,
        exclusive: options.exclusive ?? false,
        autoDelete: options.autoDelete ?? false,
        noWait: false,
        arguments: options.arguments ?? {},
      },
      key(50, 11),
    );
    if (ok.name !== 'queue.declare-ok') throw unexpected(ok);
    return { queue: ok.queue, messageCount: ok.messageCount, consumerCount: ok.consumerCount };
  }

  async queueBind(queue: string, exchange: string, routingKey = '', args: FieldTable = {}): Promise<void> {
    await this.rpc(
      {
        name: 'queue.bind',
        classId: 50,
        methodId: 20,
        queue,
        exchange,
        routingKey,
        noWait: false,
        arguments: args,
      },
      key(50, 21),
    );
  }

  /** Removes ready messages; resolves with how many. */
  async queuePurge(queue: string): Promise<number> {
    const ok = await this.rpc(
      { name: 'queue.purge', classId: 50, methodId: 30, queue, noWait: false },
      key(50, 31),
    );
    return ok.name === 'queue.purge-ok' ? ok.messageCount : 0;
  }

  async queueDelete(queue: string): Promise<number> {
    const ok = await this.rpc(
      {
        name: 'queue.delete',
        classId: 50,
        methodId: 40,
        queue,
        ifUnused: false,
        ifEmpty: false,
        noWait: false,
      },
      key(50, 41),
    );
    return ok.name === 'queue.delete-ok' ? ok.messageCount : 0;
  }

  /** Starts a consumer; resolves with its tag once the broker confirmed it. */
  consume(queue: string, handler: DeliveryHandler, options: ConsumeOptions = {}): Promise<string> {
    return this.startConsumer(queue, handler, undefined, options);
  }

  /** Like consume(), but each delivery comes with exchange, routing key and decoded properties. */
  consumeMessages(queue: string, handler: MessageHandler, options: ConsumeOptions = {}): Promise<string> {
    return this.startConsumer(queue, () => {}, handler, options);
  }

  private async startConsumer(
    queue: string,
    handler: DeliveryHandler,
    messageHandler: MessageHandler | undefined,
    options: ConsumeOptions,
  ): Promise<string> {
    const noAck = options.noAck ?? false;
    const ok = await this.rpc(
      {
        name: 'basic.consume',
        classId: 60,
        methodId: 20,
        queue,
        consumerTag: options.consumerTag ?? '',
        noLocal: false,
        noAck,
        exclusive: options.exclusive ?? false,
        noWait: false,
        arguments: options.arguments ?? {},
      },
      key(60, 21),
      // The broker may deliver right after consume-ok, in the same chunk: register before resolving.
      (reply) => {
        if (reply.name !== 'basic.consume-ok') return;
        const batchAck = !noAck && (options.batchAck ?? false);
        this.consumers.set(reply.consumerTag, {
          tag: reply.consumerTag,
          handler,
          batchAck,
          messageHandler,
          onCancel: options.onCancel,
        });
      },
    );
    if (ok.name !== 'basic.consume-ok') throw unexpected(ok);
    return ok.consumerTag;
  }

  async cancel(consumerTag: string): Promise<void> {
    await this.rpc(
      { name: 'basic.cancel', classId: 60, methodId: 30, consumerTag, noWait: false },
      key(60, 31),
    );
    this.consumers.delete(consumerTag);
  }

  // ---- publishing and acknowledging (asynchronous, no reply awaited)

  /**
   * Publishes one message. rawProperties is an encoded property list (see encodeBasicProperties;
   * EMPTY_RAW_PROPERTIES for none). Returns false when the socket is backed up: await
   * connection.drained() before publishing more.
   */
  publish(
    exchange: string | Buffer,
    routingKey: string | Buffer,
    body: Buffer,
    rawProperties: Buffer,
    mandatory = false,
  ): boolean {
    if (this.closedWith !== null) throw this.closedWith;
    if (body.length > this.host.maxBodySize) {
      throw new AmqpClientError('protocol', `body of ${body.length} bytes exceeds ${this.host.maxBodySize}`);
    }
    writePublish(
      this.host.out,
      this.id,
      shortstr(exchange),
      shortstr(routingKey),
      mandatory,
      rawProperties,
      body,
      this.host.frameMax,
    );
    this.published++;
    if (this.confirms !== null) this.confirms.add();
    return !this.host.backedUp;
  }

  /** Resolves once at most `maxUnconfirmed` publishes await their confirm (confirm mode only). */
  waitForConfirms(maxUnconfirmed = 0): Promise<void> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    if (this.confirms === null) return Promise.resolve();
    return this.confirms.waitForAtMost(maxUnconfirmed);
  }

  ack(deliveryTag: number, multiple = false): void {
    if (this.closedWith !== null) throw this.closedWith;
    writeAck(this.host.out, this.id, deliveryTag, multiple);
  }

  /** @internal Sends the batched multiple-ack for deliveries of batchAck consumers. */
  flushAcks(): void {
    this.ackScheduled = false;
    if (this.pendingAckTag === 0 || this.closedWith !== null) return;
    writeAck(this.host.out, this.id, this.pendingAckTag, true);
    this.pendingAckTag = 0;
  }

  // ---- incoming frames (called by the connection)

  /** @internal */
  onMethodFrame(buf: Buffer, start: number, end: number): void {
    const id = ((buf[start] << 8) | buf[start + 1]) * 65536 + ((buf[start + 2] << 8) | buf[start + 3]);
    if (id === BASIC_DELIVER) {
      this.beginDelivery(buf, start, end);
      return;
    }
    if (id === BASIC_ACK || id === BASIC_NACK) {
      if (end - start < 13) throw new AmqpClientError('protocol', 'truncated basic.ack');
      const tag = buf.readUInt32BE(start + 4) * 0x1_0000_0000 + buf.readUInt32BE(start + 8);
      const bits = buf[start + 12];
      if (this.confirms !== null) this.confirms.settle(tag, (bits & 1) !== 0, id === BASIC_ACK);
      return;
    }
    this.onMethod(decodeMethod(buf, start, end));
  }

  /** @internal */
  onHeaderFrame(buf: Buffer, start: number, end: number): void {
    if (this.contentKind === CONTENT_NONE)
      throw new AmqpClientError('protocol', 'content header without a method');
    if (end - start < 14) throw new AmqpClientError('protocol', 'content header frame too short');
    const size = buf.readUInt32BE(start + 4) * 0x1_0000_0000 + buf.readUInt32BE(start + 8);
    if (size > this.host.maxBodySize) throw new AmqpClientError('protocol', `body size ${size} too large`);
    this.bodySize = size;
    this.bodyFill = 0;
    this.body = null;
    if (this.contentConsumer?.messageHandler !== undefined) {
      this.contentProperties = decodeBasicProperties(buf, start + 12, end);
    }
    if (size === 0) this.finishContent(EMPTY);
  }

  /** @internal */
  onBodyFrame(buf: Buffer, start: number, end: number): void {
    if (this.contentKind === CONTENT_NONE)
      throw new AmqpClientError('protocol', 'body frame without a method');
    const n = end - start;
    if (this.bodyFill + n > this.bodySize)
      throw new AmqpClientError('protocol', 'body longer than announced');
    if (this.bodyFill === 0 && n === this.bodySize) {
      this.finishContent(buf.subarray(start, end));
      return;
    }
    if (this.contentKind === CONTENT_DELIVER) {
      if (this.body === null) this.body = Buffer.allocUnsafe(this.bodySize);
      buf.copy(this.body, this.bodyFill, start, end);
    }
    this.bodyFill += n;
    if (this.bodyFill === this.bodySize) this.finishContent(this.body ?? EMPTY);
  }

  /** @internal The connection or channel went away: fail everything pending. */
  shutdown(err: Error): void {
    if (this.closedWith !== null) return;
    this.closedWith = err;
    const rpcs = this.rpcs.splice(0);
    for (const r of rpcs) r.reject(err);
    this.confirms?.fail(err);
    const consumers = [...this.consumers.values()];
    this.consumers.clear();
    this.host.channelClosed(this);
    for (const c of consumers) c.onCancel?.(err);
  }

  private beginDelivery(buf: Buffer, start: number, end: number): void {
    // consumer-tag shortstr, delivery-tag u64, redelivered bit, exchange, routing-key
    let o = start + 4;
    const tagLen = buf[o++];
    if (o + tagLen + 9 > end) throw new AmqpClientError('protocol', 'truncated basic.deliver');
    let consumer: Consumer | undefined;
    if (this.consumers.size === 1) {
      consumer = this.consumers.values().next().value;
    } else {
      consumer = this.consumers.get(buf.toString('utf8', o, o + tagLen));
    }
    o += tagLen;
    this.contentTag = buf.readUInt32BE(o) * 0x1_0000_0000 + buf.readUInt32BE(o + 4);
    this.contentRedelivered = (buf[o + 8] & 1) !== 0;
    this.contentConsumer = consumer ?? null;
    if (consumer?.messageHandler !== undefined) {
      o += 9;
      const exchangeLen = buf[o++];
      if (o + exchangeLen + 1 > end) throw new AmqpClientError('protocol', 'truncated basic.deliver');
      this.contentExchange = buf.toString('utf8', o, o + exchangeLen);
      o += exchangeLen;
      const keyLen = buf[o++];
      if (o + keyLen > end) throw new AmqpClientError('protocol', 'truncated basic.deliver');
      this.contentRoutingKey = buf.toString('utf8', o, o + keyLen);
      this.contentProperties = {};
    }
    this.contentKind = consumer === undefined ? CONTENT_DISCARD : CONTENT_DELIVER;
  }

  private finishContent(body: Buffer): void {
    const kind = this.contentKind;
    const consumer = this.contentConsumer;
    this.contentKind = CONTENT_NONE;
    this.contentConsumer = null;
    this.body = null;
    if (kind !== CONTENT_DELIVER || consumer === null) return;
    this.delivered++;
    const tag = this.contentTag;
    if (consumer.batchAck) {
      this.pendingAckTag = tag;
      if (!this.ackScheduled) {
        this.ackScheduled = true;
        this.host.scheduleAckFlush(this);
      }
    }
    if (consumer.messageHandler !== undefined) {
      const properties = this.contentProperties;
      this.contentProperties = {};
      consumer.messageHandler({
        body,
        deliveryTag: tag,
        redelivered: this.contentRedelivered,
        exchange: this.contentExchange,
        routingKey: this.contentRoutingKey,
        properties,
      });
      return;
    }
    consumer.handler(body, tag, this.contentRedelivered);
  }

  private onMethod(m: AmqpMethod): void {
    switch (m.name) {
      case 'channel.close': {
        this.host.sendMethod(this.id, { name: 'channel.close-ok', classId: 20, methodId: 41 });
        this.shutdown(
          new AmqpClientError(
            'channel',
            `channel closed by the broker: ${m.replyCode} ${m.replyText}`,
            m.replyCode,
          ),
        );
        return;
      }
      case 'basic.cancel': {
        // The broker cancelled a consumer (queue deleted): stop routing to it.
        const cancelled = this.consumers.get(m.consumerTag);
        this.consumers.delete(m.consumerTag);
        if (!m.noWait) {
          this.host.sendMethod(this.id, {
            name: 'basic.cancel-ok',
            classId: 60,
            methodId: 31,
            consumerTag: m.consumerTag,
          });
        }
        cancelled?.onCancel?.(null);
        return;
      }
      case 'basic.return':
      case 'basic.get-ok':
        this.contentKind = CONTENT_DISCARD;
        return;
      case 'channel.flow':
        this.host.sendMethod(this.id, {
          name: 'channel.flow-ok',
          classId: 20,
          methodId: 21,
          active: m.active,
        });
        return;
      default:
        break;
    }
    const pending = this.rpcs[0];
    if (pending === undefined || pending.reply !== key(m.classId, m.methodId)) {
      throw new AmqpClientError('protocol', `unexpected ${m.name} on channel ${this.id}`);
    }
    this.rpcs.shift();
    pending.resolve(m);
  }

  private rpc(method: AmqpMethod, reply: number, onReply?: (m: AmqpMethod) => void): Promise<AmqpMethod> {
    if (this.closedWith !== null) return Promise.reject(this.closedWith);
    return new Promise<AmqpMethod>((resolve, reject) => {
      this.rpcs.push({
        reply,
        resolve: (m) => {
          onReply?.(m);
          resolve(m);
        },
        reject,
      });
      this.host.sendMethod(this.id, method);
    });
  }
}

const EMPTY = Buffer.alloc(0);
const BASIC_DELIVER = key(60, 60);
const BASIC_ACK = key(60, 80);
const BASIC_NACK = key(60, 120);

function unexpected(m: AmqpMethod): AmqpClientError {
  return new AmqpClientError('protocol', `unexpected reply ${m.name}`);
}
