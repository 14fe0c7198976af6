import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { CodecError } from '../../codec/codec-error.js';
import { type FieldTable, TypedFieldValue } from '../../codec/field-table.js';
import { access } from '../../core/authorization.js';
import { type GetResult, QueueFullError } from '../../core/classic-queue.js';
import { DeliveryHolder } from '../../core/delivery-holder.js';
import { BrokerError, notFound, ReplyCode, replyCodeName } from '../../core/errors.js';
import { Message } from '../../core/message.js';
import { PublishPermissions } from '../../core/publish-permissions.js';
import type { Queue } from '../../core/queue.js';
import { directReplyQueue, type VHost } from '../../core/vhost.js';
import { AmqpError } from './amqp-error.js';
import { ChannelConsumer } from './channel-consumer.js';
import type { AmqpConnection, AmqpLimits } from './connection.js';
import {
  CONTENT_HEADER_PROPERTIES_OFFSET,
  contentHeaderBodySize,
  contentHeaderClassId,
} from './frame-content-header.js';
import {
  ackFrame,
  bodyFrameParts,
  encodeDelivery,
  encodeGetOk,
  encodeReturn,
  LARGE_BODY_BYTES,
  nackFrame,
} from './frame-writer.js';
import type { AmqpMethod, BasicPublish } from './generated/methods.js';

interface Unacked {
  queue: Queue;
  offset: number;
  consumer: ChannelConsumer | null;
}

interface TxPublish {
  exchange: string;
  message: Message;
  mandatory: boolean;
}

interface TxSettle {
  tag: number;
  entry: Unacked;
  action: 'ack' | 'requeue' | 'reject';
}

type State = 'open' | 'closing' | 'closed';

/**
 * One AMQP channel: translates methods into core calls and back. Methods are handled strictly in order; while
 * an asynchronous one (a durable declare, a get that reads from disk, a commit) is in flight, later frames wait
 * in a backlog so replies keep the order the client expects.
 */
export class AmqpChannel {
  private state: State = 'open';
  /** The client closed the connection: nothing more is delivered and errors go unreported. */
  private connectionClosing = false;
  private busy = false;
  private readonly backlog: Array<() => void> = [];

  // Content assembly for basic.publish: method, then header, then body frames.
  private publishing: BasicPublish | null = null;
  private properties: Buffer | null = null;
  private bodySize = 0;
  private body: Buffer | null = null;
  private bodyReceived = 0;

  // Publisher confirms: sequence numbers stored (possibly out of order) are acked in order, coalesced.
  private confirmMode = false;
  private publishSeq = 0;
  private confirmNext = 1;
  private readonly confirmDone = new Set<number>();
  private readonly confirmFailed = new Set<number>();
  private confirmFlushScheduled = false;

  private txMode = false;
  private txPublishes: TxPublish[] = [];
  private txSettles: TxSettle[] = [];

  private nextDeliveryTag = 1;
  private readonly unacked = new Map<number, Unacked>();
  private readonly consumers = new Map<string, ChannelConsumer>();
  private consumerPrefetch = 0;
  private channelPrefetch = 0;
  private flowActive = true;
  private lastQueue = '';
  /** This channel's direct reply-to consumer, if it has one. */
  private directReply: { tag: string; token: string } | undefined;
  /** Owner of every message this channel holds unacked: core puts them back when the channel ends. */
  readonly holder = new DeliveryHolder();
  private readonly publishPermissions: PublishPermissions;
  private readonly maxMessageSize: number;

  constructor(
    readonly number: number,
    readonly connection: AmqpConnection,
    private readonly vhost: VHost,
    private readonly limits: AmqpLimits,
    private readonly logger: Logger,
  ) {
    this.maxMessageSize = limits.maxMessageSize;
    this.publishPermissions = new PublishPermissions(connection.principal, vhost.name, (name) =>
      vhost.findExchange(name),
    );
  }

  // ---- frame entry points (called by the connection) -------------------------------------------------------

  onMethod(m: AmqpMethod): void {
    if (this.state === 'closing') {
      // Spec: after channel.close, ignore everything but close-ok (and a crossing close).
      if (m.name === 'channel.close-ok') this.finishClose();
      else if (m.name === 'channel.close') {
        this.connection.sendMethod(this.number, { name: 'channel.close-ok', classId: 20, methodId: 41 });
      }
      return;
    }
    if (this.state === 'closed') return;
    if (this.busy) {
      this.backlog.push(() => this.onMethod(m));
      return;
    }
    if (this.publishing) {
      throw new AmqpError(
        ReplyCode.unexpectedFrame,
        `expected content header for class 60, got non content header frame instead`,
        m.classId,
        m.methodId,
      );
    }
    try {
      this.dispatch(m);
    } catch (err) {
      this.raise(err, m.classId, m.methodId);
    }
  }

  onContentHeader(payload: Buffer, start: number, end: number): void {
    if (this.state !== 'open') return;
    if (this.busy) {
      this.backlog.push(() => this.onContentHeader(payload, start, end));
      return;
    }
    if (!this.publishing || this.properties) {
      throw new AmqpError(ReplyCode.unexpectedFrame, 'unexpected content header frame', 60, 40);
    }
    const size = contentHeaderBodySize(payload, start, end, Number.MAX_SAFE_INTEGER);
    const classId = contentHeaderClassId(payload, start);
    if (classId !== 60) {
      throw new AmqpError(
        ReplyCode.unexpectedFrame,
        `expected content header for class 60, got one for class ${classId} instead`,
        60,
        40,
      );
    }
    if (size > this.maxMessageSize) {
      this.publishing = null;
      this.raise(
        new AmqpError(
          ReplyCode.preconditionFailed,
          `message size ${size} is larger than configured max size ${this.maxMessageSize}`,
          60,
          40,
        ),
      );
      return;
    }
    // Copy: the payload aliases a socket chunk that a cached message must not pin.
    this.properties = Buffer.from(payload.subarray(start + CONTENT_HEADER_PROPERTIES_OFFSET, end));
    this.bodySize = size;
    this.bodyReceived = 0;
    this.body = null;
    if (size === 0) this.completePublish(Buffer.alloc(0));
  }

  onContentBody(payload: Buffer, start: number, end: number): void {
    if (this.state !== 'open') return;
    if (this.busy) {
      this.backlog.push(() => this.onContentBody(payload, start, end));
      return;
    }
    if (!this.publishing || !this.properties) {
      throw new AmqpError(ReplyCode.unexpectedFrame, 'unexpected content body frame', 60, 40);
    }
    const n = end - start;
    if (this.bodyReceived + n > this.bodySize) {
      throw new AmqpError(
        ReplyCode.frameError,
        `content body exceeds the size announced in its header (${this.bodySize})`,
        60,
        40,
      );
    }
    if (this.bodyReceived === 0 && n === this.bodySize) {
      this.completePublish(Buffer.from(payload.subarray(start, end)));
      return;
    }
    this.body ??= Buffer.allocUnsafe(this.bodySize);
    payload.copy(this.body, this.bodyReceived, start, end);
    this.bodyReceived += n;
    if (this.bodyReceived === this.bodySize) this.completePublish(this.body);
  }

  // ---- method dispatch -------------------------------------------------------------------------------------

  private dispatch(m: AmqpMethod): void {
    const owner = this.connection;
    switch (m.name) {
      case 'basic.publish':
        if (m.immediate) throw new AmqpError(ReplyCode.notImplemented, 'immediate=true', 60, 40);
        this.publishing = m;
        this.properties = null;
        this.connection.notePublish();
        return;
      case 'basic.ack':
        return this.ack(m.deliveryTag, m.multiple);
      case 'basic.nack':
        return this.settleNegative(m.deliveryTag, m.multiple, m.requeue);
      case 'basic.reject':
        return this.settleNegative(m.deliveryTag, false, m.requeue);
      case 'basic.consume':
        if (m.queue === directReplyQueue) return this.consumeDirectReplies(m.consumerTag, m.noAck, m.noWait);
        return this.consume(m.queue, m.consumerTag, m.noAck, m.exclusive, m.noWait, m.arguments);
      case 'basic.cancel':
        return this.cancel(m.consumerTag, m.noWait);
      case 'basic.get':
        return this.basicGet(m.queue, m.noAck);
      case 'basic.qos':
        if (m.prefetchSize !== 0) {
          throw new AmqpError(ReplyCode.notImplemented, `prefetch_size!=0 (${m.prefetchSize})`, 60, 10);
        }
        if (m.global) this.channelPrefetch = m.prefetchCount;
        else this.consumerPrefetch = m.prefetchCount;
        this.send({ name: 'basic.qos-ok', classId: 60, methodId: 11 });
        this.resumeDeliveries();
        return;
      case 'basic.recover':
      case 'basic.recover-async':
        if (!m.requeue) throw new AmqpError(ReplyCode.notImplemented, 'requeue=false', m.classId, m.methodId);
        this.requeueAll();
        if (m.name === 'basic.recover') this.send({ name: 'basic.recover-ok', classId: 60, methodId: 111 });
        return;
      case 'exchange.declare':
        return this.runAsync(
          this.vhost.declareExchange(m.exchange, m.type, {
            passive: m.passive,
            durable: m.durable,
            autoDelete: m.autoDelete,
            internal: m.internal,
            arguments: m.arguments,
            principal: this.principal,
          }),
          m,
          () => m.noWait || this.send({ name: 'exchange.declare-ok', classId: 40, methodId: 11 }),
        );
      case 'exchange.delete':
        return this.runAsync(this.vhost.deleteExchange(m.exchange, m.ifUnused, this.principal), m, () => {
          if (!m.noWait) this.send({ name: 'exchange.delete-ok', classId: 40, methodId: 21 });
        });
      case 'exchange.bind':
        return this.runAsync(
          this.vhost.bindExchange(m.destination, m.source, m.routingKey, m.arguments, this.principal),
          m,
          () => {
            if (!m.noWait) this.send({ name: 'exchange.bind-ok', classId: 40, methodId: 31 });
          },
        );
      case 'exchange.unbind':
        return this.runAsync(
          this.vhost.unbindExchange(m.destination, m.source, m.routingKey, m.arguments, this.principal),
          m,
          () => {
            if (!m.noWait) this.send({ name: 'exchange.unbind-ok', classId: 40, methodId: 51 });
          },
        );
      case 'queue.declare': {
        if (m.passive && m.queue === directReplyQueue) {
          if (!m.noWait) {
            this.send({
              name: 'queue.declare-ok',
              classId: 50,
              methodId: 11,
              queue: m.queue,
              messageCount: 0,
              consumerCount: 0,
            });
          }
          return;
        }
        const name = m.passive ? this.queueName(m.queue) : m.queue;
        return this.runAsync(
          this.vhost.declareQueue(name, {
            passive: m.passive,
            durable: m.durable,
            exclusive: m.exclusive,
            autoDelete: m.autoDelete,
            arguments: m.arguments,
            owner,
            principal: this.principal,
          }),
          m,
          (r) => {
            this.lastQueue = r.queue.name;
            if (!m.noWait) {
              this.send({
                name: 'queue.declare-ok',
                classId: 50,
                methodId: 11,
                queue: r.queue.name,
                messageCount: r.messageCount,
                consumerCount: r.consumerCount,
              });
            }
          },
        );
      }
      case 'queue.bind': {
        const queue = this.queueName(m.queue);
        const key = m.queue === '' && m.routingKey === '' ? queue : m.routingKey;
        const bind = this.vhost.bindQueue(queue, m.exchange, key, m.arguments, owner, this.principal);
        return this.runAsync(bind, m, () => {
          if (!m.noWait) this.send({ name: 'queue.bind-ok', classId: 50, methodId: 21 });
        });
      }
      case 'queue.unbind': {
        const queue = this.queueName(m.queue);
        const key = m.queue === '' && m.routingKey === '' ? queue : m.routingKey;
        const unbind = this.vhost.unbindQueue(queue, m.exchange, key, m.arguments, owner, this.principal);
        return this.runAsync(unbind, m, () =>
          this.send({ name: 'queue.unbind-ok', classId: 50, methodId: 51 }),
        );
      }
      case 'queue.purge': {
        const queue = this.queueName(m.queue);
        access.purgeQueue(this.principal, this.vhost.name, queue);
        const count = this.vhost.purgeQueue(queue, owner);
        if (!m.noWait) this.send({ name: 'queue.purge-ok', classId: 50, methodId: 31, messageCount: count });
        return;
      }
      case 'queue.delete': {
        const queue = this.queueName(m.queue);
        access.deleteQueue(this.principal, this.vhost.name, queue);
        return this.runAsync(
          this.vhost.deleteQueue(queue, { ifUnused: m.ifUnused, ifEmpty: m.ifEmpty, owner }),
          m,
          (count) => {
            if (!m.noWait)
              this.send({ name: 'queue.delete-ok', classId: 50, methodId: 41, messageCount: count });
          },
        );
      }
      case 'confirm.select':
        if (this.txMode)
          throw new AmqpError(ReplyCode.preconditionFailed, 'cannot switch from tx to confirm mode', 85, 10);
        this.confirmMode = true;
        if (!m.noWait) this.send({ name: 'confirm.select-ok', classId: 85, methodId: 11 });
        return;
      case 'tx.select':
        if (this.confirmMode) {
          throw new AmqpError(ReplyCode.preconditionFailed, 'cannot switch from confirm to tx mode', 90, 10);
        }
        this.txMode = true;
        this.send({ name: 'tx.select-ok', classId: 90, methodId: 11 });
        return;
      case 'tx.commit':
        if (!this.txMode)
          throw new AmqpError(ReplyCode.preconditionFailed, 'channel is not transactional', 90, 20);
        return this.runAsync(this.commit(), m, () =>
          this.send({ name: 'tx.commit-ok', classId: 90, methodId: 21 }),
        );
      case 'tx.rollback':
        if (!this.txMode)
          throw new AmqpError(ReplyCode.preconditionFailed, 'channel is not transactional', 90, 30);
        this.rollback();
        this.send({ name: 'tx.rollback-ok', classId: 90, methodId: 31 });
        return;
      case 'channel.flow':
        // RabbitMQ does not let clients stop the server's deliveries this way (use basic.qos); it answers 540.
        if (!m.active) throw new AmqpError(ReplyCode.notImplemented, 'active=false', 20, 20);
        this.flowActive = true;
        this.send({ name: 'channel.flow-ok', classId: 20, methodId: 21, active: m.active });
        if (m.active) this.resumeDeliveries();
        return;
      case 'channel.flow-ok':
        return;
      case 'channel.close':
        this.release();
        this.connection.sendMethod(this.number, { name: 'channel.close-ok', classId: 20, methodId: 41 });
        this.connection.channelClosed(this);
        return;
      case 'channel.close-ok':
        return;
      case 'access.request':
        this.send({ name: 'access.request-ok', classId: 30, methodId: 11, ticket: 1 });
        return;
      default:
        throw new AmqpError(
          ReplyCode.commandInvalid,
          `unimplemented method ${m.name}`,
          m.classId,
          m.methodId,
        );
    }
  }

  // ---- publishing ------------------------------------------------------------------------------------------

  private completePublish(body: Buffer): void {
    const method = this.publishing!;
    const properties = this.properties!;
    this.publishing = null;
    this.properties = null;
    this.body = null;
    try {
      this.publishPermissions.check(method.exchange, method.routingKey);
      let message = Message.fromPublish(method.exchange, method.routingKey, properties, body, Date.now());
      this.checkUserId(message);
      if (message.replyToProperty === directReplyQueue) message = this.withDirectReplyAddress(message);
      if (this.txMode) {
        // Validate now (RabbitMQ reports a missing exchange at publish time, not at commit).
        this.vhost.route(method.exchange, message);
        this.txPublishes.push({ exchange: method.exchange, message, mandatory: method.mandatory });
        return;
      }
      this.publishNow(method.exchange, message, method.mandatory);
    } catch (err) {
      this.raise(err, 60, 40);
    }
  }

  /** reply_to 'amq.rabbitmq.reply-to' becomes this channel's reply address; without a reply consumer it is a 406. */
  private withDirectReplyAddress(message: Message): Message {
    if (!this.directReply) {
      throw new AmqpError(ReplyCode.preconditionFailed, 'fast reply consumer does not exist', 60, 40);
    }
    return message.withProperties({
      ...message.decodedProperties,
      replyTo: `${directReplyQueue}.${this.directReply.token}`,
    });
  }

  /** RabbitMQ's validated user-id: a publisher may not claim to be someone else. */
  private checkUserId(message: Message): void {
    const claimed = message.userIdProperty;
    const user = this.connection.userName;
    if (claimed !== undefined && claimed !== user) {
      throw new AmqpError(
        ReplyCode.preconditionFailed,
        `user_id property set to '${claimed}' but authenticated user was '${user}'`,
        60,
        40,
      );
    }
  }

  private publishNow(
    exchange: string,
    message: Message,
    mandatory: boolean,
    onStored?: (err: Error | null) => void,
  ) {
    let callback = onStored;
    if (this.confirmMode) {
      const seq = ++this.publishSeq;
      callback = (err) => this.confirmStored(seq, err);
    }
    const routed = this.vhost.publish(exchange, message, callback);
    // basic.return goes out before the confirm: confirms are flushed in a microtask.
    if (routed === 0 && mandatory) {
      this.connection.write(
        encodeReturn(
          this.number,
          ReplyCode.noRoute,
          'NO_ROUTE',
          message.exchange,
          message.routingKey,
          message.properties,
          message.body,
          this.connection.negotiatedFrameMax,
        ),
      );
    }
  }

  private confirmStored(seq: number, err: Error | null): void {
    if (err) {
      this.confirmFailed.add(seq);
      if (!(err instanceof QueueFullError)) {
        this.logger.error({ err, channel: this.number }, 'message store failed; nacking publish');
      }
    }
    this.confirmDone.add(seq);
    if (!this.confirmFlushScheduled) {
      this.confirmFlushScheduled = true;
      queueMicrotask(() => this.flushConfirms());
    }
  }

  /** Acks the longest run of stored publishes in one basic.ack(multiple); failed ones get a basic.nack. */
  private flushConfirms(): void {
    this.confirmFlushScheduled = false;
    if (this.state !== 'open') return;
    let last = 0;
    let run = 0;
    while (this.confirmDone.delete(this.confirmNext)) {
      const seq = this.confirmNext++;
      if (this.confirmFailed.delete(seq)) {
        if (run > 0) this.connection.write(ackFrame(this.number, last, run > 1));
        run = 0;
        this.connection.write(nackFrame(this.number, seq, false, false));
        continue;
      }
      last = seq;
      run++;
    }
    if (run > 0) this.connection.write(ackFrame(this.number, last, run > 1));
  }

  private async commit(): Promise<void> {
    const publishes = this.txPublishes;
    const settles = this.txSettles;
    this.txPublishes = [];
    this.txSettles = [];
    this.applySettles(settles);
    const stored: Array<Promise<void>> = [];
    for (const p of publishes) {
      stored.push(
        new Promise<void>((resolve, reject) =>
          this.publishNow(p.exchange, p.message, p.mandatory, (err) => (err ? reject(err) : resolve())),
        ),
      );
    }
    await Promise.all(stored);
  }

  private rollback(): void {
    this.txPublishes = [];
    // Acks inside a rolled-back transaction did not happen: those messages are unacked again, in tag order.
    const restored = [...this.txSettles.map((s) => [s.tag, s.entry] as const), ...this.unacked];
    this.txSettles = [];
    restored.sort((x, y) => x[0] - y[0]);
    this.unacked.clear();
    for (const c of this.consumers.values()) c.unacked = 0;
    for (const [tag, entry] of restored) {
      this.unacked.set(tag, entry);
      if (entry.consumer) entry.consumer.unacked++;
    }
  }

  // ---- consuming -------------------------------------------------------------------------------------------

  private consume(
    queueName: string,
    tag: string,
    noAck: boolean,
    exclusive: boolean,
    noWait: boolean,
    args: FieldTable,
  ): void {
    const name = this.queueName(queueName);
    const consumerTag = this.newConsumerTag(tag);
    access.readQueue(this.principal, this.vhost.name, name);
    const queue = this.vhost.getQueue(name, this.connection);
    const priority = consumerPriority(args);
    const consumer = new ChannelConsumer(
      consumerTag,
      queue,
      noAck,
      exclusive,
      this.consumerPrefetch,
      this,
      priority,
    );
    queue.addConsumer(consumer, {
      arguments: args,
      prefetch: this.consumerPrefetch,
      globalPrefetch: this.channelPrefetch,
    });
    this.consumers.set(consumerTag, consumer);
    // consume-ok precedes deliveries: the queue delivers from a microtask.
    if (!noWait) this.send({ name: 'basic.consume-ok', classId: 60, methodId: 21, consumerTag });
  }

  /** RabbitMQ's order: a reused tag, then the channel's consumer limit (both 530), then the queue's checks. */
  private newConsumerTag(tag: string): string {
    if (this.consumers.has(tag) || this.directReply?.tag === tag) {
      throw new AmqpError(ReplyCode.notAllowed, `attempt to reuse consumer tag '${tag}'`, 60, 20);
    }
    const max = this.limits.maxConsumersPerChannel;
    if (max > 0 && this.consumers.size + (this.directReply ? 1 : 0) >= max) {
      throw new AmqpError(ReplyCode.notAllowed, `reached maximum (${max}) of consumers per channel`, 60, 20);
    }
    return tag === '' ? `amq.ctag-${randomBytes(16).toString('base64url')}` : tag;
  }

  /**
   * Direct reply-to: an RPC caller consumes from the pseudo-queue amq.rabbitmq.reply-to (no-ack only); replies
   * published to its token are handed straight to this consumer, no queue involved.
   */
  private consumeDirectReplies(tag: string, noAck: boolean, noWait: boolean): void {
    if (!noAck)
      throw new AmqpError(ReplyCode.preconditionFailed, 'reply consumer cannot acknowledge', 60, 20);
    if (this.directReply)
      throw new AmqpError(ReplyCode.preconditionFailed, 'reply consumer already set', 60, 20);
    const consumerTag = this.newConsumerTag(tag);
    const encodedTag = Buffer.from(consumerTag);
    const token = this.vhost.registerDirectReply((message) => {
      if (this.state !== 'open') return;
      const frameMax = this.connection.negotiatedFrameMax;
      this.connection.write(
        encodeDelivery(
          this.number,
          encodedTag,
          this.nextDeliveryTag++,
          false,
          message.exchange,
          message.routingKey,
          message.properties,
          message.body,
          frameMax,
        ),
      );
    });
    this.directReply = { tag: consumerTag, token };
    if (!noWait) this.send({ name: 'basic.consume-ok', classId: 60, methodId: 21, consumerTag });
  }

  private cancel(tag: string, noWait: boolean): void {
    if (this.directReply?.tag === tag) {
      this.vhost.unregisterDirectReply(this.directReply.token);
      this.directReply = undefined;
    }
    const consumer = this.consumers.get(tag);
    if (consumer) {
      this.consumers.delete(tag);
      consumer.queue.removeConsumer(consumer);
    }
    if (!noWait) this.send({ name: 'basic.cancel-ok', classId: 60, methodId: 31, consumerTag: tag });
  }

  private basicGet(queueName: string, noAck: boolean): void {
    const name = this.queueName(queueName);
    access.readQueue(this.principal, this.vhost.name, name);
    const queue = this.vhost.getQueue(name, this.connection);
    const result = queue.get(noAck, this.holder);
    if (result instanceof Promise) {
      this.runAsync(result, { classId: 60, methodId: 70 }, (r) => this.sendGetResult(queue, r, noAck));
      return;
    }
    this.sendGetResult(queue, result, noAck);
  }

  private sendGetResult(queue: Queue, r: GetResult | null, noAck: boolean): void {
    if (!r) {
      this.send({ name: 'basic.get-empty', classId: 60, methodId: 72, clusterId: '' });
      return;
    }
    if (this.state === 'closed') {
      queue.releaseOwner(this.holder); // read from disk after the channel went: nobody can ack it
      return;
    }
    const tag = this.nextDeliveryTag++;
    if (!noAck) {
      this.unacked.set(tag, { queue, offset: r.offset, consumer: null });
      this.holder.noteDelivery(queue);
    }
    this.connection.write(
      encodeGetOk(
        this.number,
        tag,
        r.redelivered,
        r.message.exchange,
        r.message.routingKey,
        r.remaining,
        r.message.properties,
        r.message.body,
        this.connection.negotiatedFrameMax,
      ),
    );
  }

  /** The queue asks whether `consumer` may take one more message now. */
  consumerHasCredit(consumer: ChannelConsumer): boolean {
    if (this.state !== 'open' || !this.flowActive || this.connectionClosing) return false;
    if (!this.connection.isWritable) {
      this.connection.waitForDrain(this);
      return false;
    }
    if (consumer.noAck) return true;
    if (consumer.prefetch > 0 && consumer.unacked >= consumer.prefetch) return false;
    if (this.channelPrefetch > 0 && this.unacked.size >= this.channelPrefetch) return false;
    return true;
  }

  deliver(
    consumer: ChannelConsumer,
    queue: Queue,
    offset: number,
    message: Message,
    redelivered: boolean,
  ): void {
    const tag = this.nextDeliveryTag++;
    if (!consumer.noAck) {
      this.unacked.set(tag, { queue, offset, consumer });
      consumer.unacked++;
      this.holder.noteDelivery(queue);
    }
    const frameMax = this.connection.negotiatedFrameMax;
    const large = message.body.length >= LARGE_BODY_BYTES;
    this.connection.write(
      encodeDelivery(
        this.number,
        consumer.encodedTag,
        tag,
        redelivered,
        message.exchange,
        message.routingKey,
        message.properties,
        message.body,
        frameMax,
        !large,
      ),
    );
    if (large)
      for (const part of bodyFrameParts(this.number, message.body, frameMax)) this.connection.write(part);
  }

  consumerCancelledByQueue(consumer: ChannelConsumer): void {
    if (this.consumers.get(consumer.tag) !== consumer) return;
    this.consumers.delete(consumer.tag);
    if (this.state === 'open' && this.connection.clientSupportsCancelNotify) {
      this.send({ name: 'basic.cancel', classId: 60, methodId: 30, consumerTag: consumer.tag, noWait: true });
    }
  }

  /** Credit came back (ack, qos, flow, socket drained): let every subscribed queue deliver again. */
  resumeDeliveries(): void {
    for (const c of this.consumers.values()) c.queue.resumeDelivery();
  }

  // ---- acknowledgements ------------------------------------------------------------------------------------

  /** Removes and returns the entries a (tag, multiple) pair names; 406 for a tag that is not outstanding. */
  private takeUnacked(
    tag: number,
    multiple: boolean,
    classId: number,
    methodId: number,
  ): Array<[number, Unacked]> {
    const taken: Array<[number, Unacked]> = [];
    if (multiple) {
      for (const [t, entry] of this.unacked) {
        if (tag !== 0 && t > tag) break;
        taken.push([t, entry]);
      }
      if (tag !== 0 && (taken.length === 0 || taken[taken.length - 1][0] !== tag)) {
        throw new AmqpError(ReplyCode.preconditionFailed, `unknown delivery tag ${tag}`, classId, methodId);
      }
    } else {
      const entry = this.unacked.get(tag);
      if (!entry)
        throw new AmqpError(ReplyCode.preconditionFailed, `unknown delivery tag ${tag}`, classId, methodId);
      taken.push([tag, entry]);
    }
    for (const [t, entry] of taken) {
      this.unacked.delete(t);
      if (entry.consumer) entry.consumer.unacked--;
    }
    return taken;
  }

  private ack(tag: number, multiple: boolean): void {
    const taken = this.takeUnacked(tag, multiple, 60, 80);
    const settles = taken.map(([t, entry]) => ({ tag: t, entry, action: 'ack' as const }));
    if (this.txMode) this.txSettles.push(...settles);
    else this.applySettles(settles);
  }

  private settleNegative(tag: number, multiple: boolean, requeue: boolean): void {
    const taken = this.takeUnacked(tag, multiple, 60, multiple ? 120 : 90);
    const action = requeue ? ('requeue' as const) : ('reject' as const);
    const settles = taken.map(([t, entry]) => ({ tag: t, entry, action }));
    if (this.txMode) this.txSettles.push(...settles);
    else this.applySettles(settles);
  }

  private applySettles(settles: TxSettle[]): void {
    const requeues = new Map<Queue, number[]>();
    const touched = new Set<Queue>();
    for (const { entry, action } of settles) {
      touched.add(entry.queue);
      if (entry.queue.kind === 'stream') entry.queue.settle(entry.offset, entry.consumer, action);
      else if (action === 'ack') entry.queue.ack(entry.offset);
      else if (action === 'reject') entry.queue.reject(entry.offset);
      else {
        let list = requeues.get(entry.queue);
        if (!list) requeues.set(entry.queue, (list = []));
        list.push(entry.offset);
      }
    }
    for (const [queue, offsets] of requeues) queue.requeue(offsets);
    for (const queue of touched) queue.resumeDelivery();
  }

  /** basic.recover: everything this channel holds goes back (core releases it by owner). */
  private requeueAll(): void {
    for (const entry of this.unacked.values()) {
      // Refused outside consumer groups: a plain stream takes nothing back.
      if (entry.queue.kind === 'stream') entry.queue.settle(entry.offset, entry.consumer, 'requeue');
    }
    this.unacked.clear();
    for (const c of this.consumers.values()) c.unacked = 0;
    this.holder.releaseAll();
  }

  // ---- lifecycle -------------------------------------------------------------------------------------------

  /**
   * The client sent connection.close: deliver nothing more and, once what it sent before the close has run
   * (frames queued behind an asynchronous method), drop the subscriptions and call `done`. Unacked messages
   * stay until release(), so acks sent after the close still count.
   */
  stopForConnectionClose(done: () => void): void {
    this.connectionClosing = true;
    const stop = (): void => {
      this.dropSubscriptions();
      done();
    };
    if (this.busy) this.backlog.push(stop);
    else stop();
  }

  private dropSubscriptions(): void {
    for (const c of this.consumers.values()) c.queue.removeConsumer(c);
    this.consumers.clear();
    if (this.directReply) this.vhost.unregisterDirectReply(this.directReply.token);
    this.directReply = undefined;
    // Content frames after the close are not read: a publish still open never completes.
    this.publishing = null;
  }

  /** Frees everything the channel holds: consumers cancelled, unacked messages requeued (channel or connection closing). */
  release(): void {
    if (this.state === 'closed') return;
    this.state = this.state === 'closing' ? 'closing' : 'closed';
    this.dropSubscriptions();
    this.txPublishes = [];
    // Uncommitted acks are void: those messages are still held by this channel and go back with the rest.
    this.txSettles = [];
    this.unacked.clear();
    this.holder.releaseAll();
    this.backlog.length = 0;
  }

  private finishClose(): void {
    this.state = 'closed';
    this.connection.channelClosed(this);
  }

  /** Reports an error: soft codes close this channel, hard codes the connection. */
  private raise(err: unknown, classId = 0, methodId = 0): void {
    let error: AmqpError;
    if (err instanceof AmqpError) error = err;
    else if (err instanceof BrokerError) error = new AmqpError(err.code, err.text, classId, methodId);
    else if (err instanceof CodecError) error = new AmqpError(err.replyCode, err.message, classId, methodId);
    else {
      this.logger.error({ err, channel: this.number }, 'internal error on channel');
      error = new AmqpError(ReplyCode.internalError, 'internal error', classId, methodId);
    }
    if (this.connectionClosing) return;
    if (error.connectionLevel) {
      this.connection.closeWithError(error);
      return;
    }
    if (this.state !== 'open') return;
    this.release();
    this.state = 'closing';
    this.connection.sendMethod(this.number, {
      name: 'channel.close',
      classId: 20,
      methodId: 40,
      replyCode: error.code,
      replyText: `${replyCodeName(error.code)} - ${error.text}`.slice(0, 255),
      failingClassId: error.classId,
      failingMethodId: error.methodId,
    });
  }

  private runAsync<T>(
    work: Promise<T>,
    m: { classId: number; methodId: number },
    onOk: (result: T) => void,
  ): void {
    this.busy = true;
    work.then(
      (result) => {
        this.busy = false;
        if (this.state === 'open') {
          try {
            onOk(result);
          } catch (err) {
            this.raise(err, m.classId, m.methodId);
          }
        }
        this.runBacklog();
      },
      (err) => {
        this.busy = false;
        if (this.state === 'open') this.raise(err, m.classId, m.methodId);
        this.runBacklog();
      },
    );
  }

  private runBacklog(): void {
    while (!this.busy && this.backlog.length > 0 && this.state !== 'closed') {
      const next = this.backlog.shift()!;
      try {
        next();
      } catch (err) {
        this.connection.fail(err);
        return;
      }
    }
  }

  private get principal() {
    return this.connection.principal;
  }

  private queueName(name: string): string {
    if (name !== '') return name;
    if (this.lastQueue === '') throw notFound('no previously declared queue');
    return this.lastQueue;
  }

  private send(m: AmqpMethod): void {
    this.connection.sendMethod(this.number, m);
  }
}

/** The x-priority consumer argument (RabbitMQ consumer priorities); 0 when absent. */
function consumerPriority(args: FieldTable): number {
  const v = args['x-priority'];
  if (v === undefined) return 0;
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'bigint'
        ? Number(v)
        : v instanceof TypedFieldValue
          ? Number(v.value)
          : Number.NaN;
  if (!Number.isInteger(n)) {
    throw new AmqpError(
      ReplyCode.preconditionFailed,
      `invalid arg 'x-priority' for consumer: must be an integer`,
      60,
      20,
    );
  }
  return n;
}
