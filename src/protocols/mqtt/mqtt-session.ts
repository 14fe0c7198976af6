import type { ISubscribePacket, ISubscription, IUnsubscribePacket, QoS } from 'mqtt-packet';
import type { Logger } from 'pino';
import { access } from '../../core/authorization.js';
import type { ClassicQueue } from '../../core/classic-queue.js';
import { DeliveryHolder } from '../../core/delivery-holder.js';
import { BrokerError, ReplyCode } from '../../core/errors.js';
import type { Message } from '../../core/message.js';
import type { Queue } from '../../core/queue.js';
import { filterToBindingKey, topicFilterProblem } from '../../core/topic-mapping.js';
import type { Principal } from '../../core/users.js';
import type { VHost } from '../../core/vhost.js';
import { messageOfRetained, publishPropertiesOf, topicOf } from './message-mapping.js';
import { type MqttLimits, sessionQueueName } from './mqtt-options.js';
import { AckType, ackPacket, encodeControl, encodePublish, publishSize } from './packet-writer.js';
import { MqttProtocolError, Reason, SUBACK_FAILURE_V3 } from './reason-codes.js';
import type { RetainedStore } from './retained-store.js';
import { SessionConsumer } from './session-consumer.js';
import type { SessionStore } from './session-store.js';
import { parseSharedFilter, type SharedMembership, SharedSubscriptions } from './shared-subscriptions.js';
import {
  bindingArguments,
  SessionSubscriptions,
  type Subscription,
  subscriptionOfBinding,
} from './subscriptions.js';

/** What a session needs from the connection that carries it. */
export interface SessionLink {
  readonly version: number;
  readonly isOpen: boolean;
  /** False while the socket's buffer is full; the link calls resumeDelivery() once it drains. */
  readonly isWritable: boolean;
  /** The connection: owner of the session's exclusive queue. */
  readonly owner: object;
  write(buf: Buffer): void;
  /** The session cannot go on (its queue was deleted): the connection closes with this reason. */
  fail(reason: number, message: string): void;
}

export interface SessionContext {
  vhost: VHost;
  principal: Principal;
  clientId: string;
  exchange: string;
  /** Seconds the session outlives its connection (0: it ends with it). */
  expirySeconds: number;
  /** MQTT 5 receive maximum of the client (65535 when it sets none). */
  clientReceiveMaximum: number;
  /** MQTT 5 maximum packet size of the client (Infinity when it sets none). */
  clientMaximumPacketSize: number;
  limits: MqttLimits;
  sessions: SessionStore;
  retained: RetainedStore;
  logger: Logger;
}

/** Highest QoS granted to subscriptions. */
const MAX_QOS: QoS = 2;

interface Outbound {
  queue: Queue;
  offset: number;
  qos: QoS;
}

/**
 * An MQTT session over the core: its subscriptions are bindings of one queue (mqtt-subscription-<id>qos1) to
 * the MQTT exchange, consumed by one SessionConsumer; its deliveries in flight are held by a DeliveryHolder, so
 * when the connection ends the core puts them back (redelivered, with DUP set, to the next connection of a
 * persistent session). A session whose expiry is 0 uses an exclusive transient queue that goes with the
 * connection; a longer one a durable queue and a SessionStore record, which outlive it.
 */
export class MqttSession {
  readonly holder = new DeliveryHolder();
  readonly subscriptions = new SessionSubscriptions();
  private readonly shared: SharedSubscriptions;
  readonly clientId: string;
  readonly queueName: string;
  expirySeconds: number;
  private queue: ClassicQueue | undefined;
  private consumer: SessionConsumer | undefined;
  /** Deliveries awaiting PUBACK or PUBREC, by packet identifier. */
  private readonly outbound = new Map<number, Outbound>();
  /** Outbound QoS 2 messages past PUBREC whose PUBCOMP has not come yet. */
  private readonly released = new Set<number>();
  /**
   * QoS 2 messages an earlier connection sent without getting PUBREC: queue offset -> the packet identifier
   * they must be resent with, and those identifiers (kept free until then).
   */
  private resendIds = new Map<number, number>();
  private readonly reservedIds = new Set<number>();
  private nextPacketId = 1;
  private readonly window: number;
  private detached = false;

  constructor(
    private readonly link: SessionLink,
    private readonly ctx: SessionContext,
  ) {
    this.clientId = ctx.clientId;
    this.queueName = sessionQueueName(ctx.clientId);
    this.expirySeconds = ctx.expirySeconds;
    this.window = Math.min(ctx.clientReceiveMaximum, ctx.limits.maxInflight, 0xffff);
    this.shared = new SharedSubscriptions(this, ctx);
  }

  get owner(): object {
    return this.link.owner;
  }

  get settlesOnDelivery(): boolean {
    return this.subscriptions.maxQos === 0;
  }

  get persistent(): boolean {
    return this.expirySeconds > 0;
  }

  /**
   * Starts a clean session (dropping a stored one) or resumes the stored one: its queue, its subscriptions
   * (from the queue's bindings) and its QoS 2 releases in progress. Returns whether a session was resumed.
   */
  async open(cleanStart: boolean): Promise<boolean> {
    const { vhost, sessions } = this.ctx;
    const existing = vhost.findQueue(this.queueName);
    const record = sessions.get(vhost.name, this.clientId);
    let present = false;
    if (cleanStart) {
      if (existing) {
        access.deleteQueue(this.ctx.principal, vhost.name, this.queueName);
        await vhost.deleteQueue(this.queueName, { owner: this.owner });
      }
      if (record) await sessions.delete(vhost.name, this.clientId);
    } else {
      present = existing !== undefined || record !== undefined;
      if (existing?.kind === 'queue') {
        this.queue = existing;
        const exchange = vhost.findExchange(this.ctx.exchange);
        for (const binding of exchange?.bindingsTo(existing) ?? []) {
          this.subscriptions.set(subscriptionOfBinding(binding.routingKey, binding.arguments));
        }
      }
      for (const id of sessions.outboundQos2(vhost.name, this.clientId)) this.released.add(id);
      this.resendIds = sessions.sentQos2(vhost.name, this.clientId);
      for (const id of this.resendIds.values()) this.reservedIds.add(id);
    }
    if (this.persistent) await sessions.put(vhost.name, this.clientId, { expirySeconds: this.expirySeconds });
    return present;
  }

  /** After CONNACK: resend the PUBRELs of a resumed session and start delivering. */
  start(): void {
    for (const id of this.released) this.link.write(ackPacket(AckType.pubrel, id));
    this.startConsuming();
  }

  // ---- subscribing -----------------------------------------------------------------------------------------

  async subscribe(packet: ISubscribePacket): Promise<void> {
    const id = packet.properties?.subscriptionIdentifier;
    const granted: number[] = [];
    const withRetained: Subscription[] = [];
    for (const request of packet.subscriptions) {
      granted.push(await this.subscribeOne(request, id, withRetained));
    }
    this.link.write(
      encodeControl({ cmd: 'suback', messageId: packet.messageId, granted }, this.link.version),
    );
    this.startConsuming();
    const now = Date.now();
    for (const sub of withRetained) this.queueRetained(sub, now);
  }

  async unsubscribe(packet: IUnsubscribePacket): Promise<void> {
    const codes: number[] = [];
    for (const filter of packet.unsubscriptions) {
      if (this.shared.has(filter)) {
        this.shared.unsubscribe(filter);
        codes.push(Reason.success);
        continue;
      }
      const sub = this.subscriptions.get(filter);
      if (!sub || !this.queue) {
        codes.push(Reason.noSubscriptionExisted);
        continue;
      }
      try {
        this.authorizeBinding(filterToBindingKey(filter));
        await this.ctx.vhost.unbindQueue(
          this.queueName,
          this.ctx.exchange,
          filterToBindingKey(filter),
          bindingArguments(sub),
          this.owner,
        );
        this.subscriptions.delete(filter);
        codes.push(Reason.success);
      } catch (err) {
        codes.push(this.refusal(err, `unsubscribe from '${filter}'`));
      }
    }
    const unsuback =
      this.link.version === 5
        ? { cmd: 'unsuback' as const, messageId: packet.messageId, granted: codes }
        : { cmd: 'unsuback' as const, messageId: packet.messageId, granted: [] };
    this.link.write(encodeControl(unsuback, this.link.version));
  }

  private async subscribeOne(
    request: ISubscription,
    id: number | undefined,
    withRetained: Subscription[],
  ): Promise<number> {
    const v5 = this.link.version === 5;
    const filter = request.topic;
    const problem = topicFilterProblem(filter, this.ctx.limits);
    if (problem !== undefined) {
      this.ctx.logger.debug({ clientId: this.clientId, filter, problem }, 'subscription refused');
      return v5 ? Reason.topicFilterInvalid : SUBACK_FAILURE_V3;
    }
    const shared = parseSharedFilter(filter);
    if (shared && 'problem' in shared) return v5 ? Reason.topicFilterInvalid : SUBACK_FAILURE_V3;
    const existing = shared ? this.shared.has(filter) : this.subscriptions.get(filter) !== undefined;
    if (
      !existing &&
      this.subscriptions.size + this.shared.size >= this.ctx.limits.maxSubscriptionsPerSession
    ) {
      this.ctx.logger.info(
        { clientId: this.clientId, limit: this.ctx.limits.maxSubscriptionsPerSession },
        'subscription limit reached',
      );
      return v5 ? Reason.quotaExceeded : SUBACK_FAILURE_V3;
    }
    const sub: Subscription = {
      filter: shared ? shared.filter : filter,
      qos: Math.min(request.qos, MAX_QOS) as QoS,
      noLocal: request.nl === true,
      retainAsPublished: request.rap === true,
      retainHandling: request.rh === 1 || request.rh === 2 ? request.rh : 0,
      ...(id === undefined ? {} : { id }),
    };
    if (shared) {
      if (sub.noLocal) throw new MqttProtocolError(Reason.protocolError, 'no-local on a shared subscription');
      if (
        topicFilterProblem(shared.filter, this.ctx.limits) !== undefined ||
        Buffer.byteLength(filter) > 255
      ) {
        return v5 ? Reason.topicFilterInvalid : SUBACK_FAILURE_V3;
      }
      try {
        await this.shared.subscribe(filter, sub);
      } catch (err) {
        return this.refusal(err, `subscribe to '${filter}'`);
      }
      return sub.qos;
    }
    const previous = this.subscriptions.get(filter);
    const key = filterToBindingKey(filter);
    try {
      await this.ensureQueue();
      this.authorizeBinding(key);
      access.readQueue(this.ctx.principal, this.ctx.vhost.name, this.queueName);
      await this.ctx.vhost.bindQueue(
        this.queueName,
        this.ctx.exchange,
        key,
        bindingArguments(sub),
        this.owner,
      );
      if (previous) {
        const oldArgs = bindingArguments(previous);
        if (JSON.stringify(oldArgs) !== JSON.stringify(bindingArguments(sub))) {
          await this.ctx.vhost.unbindQueue(this.queueName, this.ctx.exchange, key, oldArgs, this.owner);
        }
      }
    } catch (err) {
      return this.refusal(err, `subscribe to '${filter}'`);
    }
    this.subscriptions.set(sub);
    if (sub.retainHandling === 0 || (sub.retainHandling === 1 && !previous)) withRetained.push(sub);
    return sub.qos;
  }

  /** RabbitMQ's checks for binding a queue to a topic exchange: write on the queue, read on the exchange and topic. */
  private authorizeBinding(bindingKey: string): void {
    const { vhost, principal, exchange } = this.ctx;
    const source = vhost.findExchange(exchange);
    access.bind(
      principal,
      vhost.name,
      { kind: 'queue', vhost: vhost.name, name: this.queueName },
      exchange,
      source,
      bindingKey,
    );
  }

  /** The SUBACK/UNSUBACK code for a failed subscription change. */
  private refusal(err: unknown, what: string): number {
    const v5 = this.link.version === 5;
    if (err instanceof BrokerError && err.code === ReplyCode.accessRefused) {
      this.ctx.logger.info({ clientId: this.clientId, reason: err.text }, `${what} refused`);
      return v5 ? Reason.notAuthorized : SUBACK_FAILURE_V3;
    }
    this.ctx.logger.warn({ clientId: this.clientId, err }, `${what} failed`);
    return v5 ? Reason.unspecifiedError : SUBACK_FAILURE_V3;
  }

  private async ensureQueue(): Promise<ClassicQueue> {
    if (this.queue && !this.queue.isDeleted) return this.queue;
    const { vhost, principal } = this.ctx;
    access.declareQueue(principal, vhost.name, this.queueName);
    const durable = this.persistent;
    const { queue } = await vhost.declareQueue(this.queueName, {
      durable,
      exclusive: !durable,
      autoDelete: false,
      owner: this.owner,
    });
    if (queue.kind !== 'queue') throw new Error(`${queue.describe} is a stream, not a session queue`);
    this.queue = queue;
    return queue;
  }

  private startConsuming(): void {
    if (this.consumer || !this.queue || this.subscriptions.size === 0 || this.detached) return;
    this.consumer = new SessionConsumer(this);
    this.queue.addConsumer(this.consumer);
  }

  /** Retained messages for a new subscription go through the session's queue, like any other message. */
  private queueRetained(sub: Subscription, now: number): void {
    const queue = this.queue;
    if (!queue || queue.isDeleted) return;
    for (const retained of this.ctx.retained.match(this.ctx.vhost.name, sub.filter, now)) {
      queue.enqueue(messageOfRetained(this.ctx.exchange, retained, now));
    }
  }

  // ---- delivering ------------------------------------------------------------------------------------------

  hasCredit(): boolean {
    return this.link.isOpen && this.link.isWritable && this.outbound.size + this.released.size < this.window;
  }

  deliver(
    queue: Queue,
    offset: number,
    message: Message,
    redelivered: boolean,
    shared?: SharedMembership,
  ): void {
    const settled = shared ? shared.sub.qos === 0 : this.settlesOnDelivery;
    const plan = shared ? this.shared.plan(shared, message) : this.subscriptions.plan(message, this.clientId);
    if (plan === undefined) {
      // Bound before an unsubscribe, or only matched by a filter MQTT's rules exclude.
      if (!settled) settle(queue, offset);
      return;
    }
    const version = this.link.version;
    const topic = topicOf(message);
    const qos: QoS = settled ? 0 : plan.qos;
    const properties =
      version === 5 ? publishPropertiesOf(message, plan.subscriptionIds, Date.now()) : undefined;
    if (
      this.ctx.clientMaximumPacketSize !== Number.POSITIVE_INFINITY &&
      publishSize(topic, qos, message.body.length, version) + (properties ? 1024 : 0) >
        this.ctx.clientMaximumPacketSize
    ) {
      // MQTT 5: a packet the client cannot take is dropped as if delivered.
      this.ctx.logger.debug(
        { clientId: this.clientId, topic },
        'message larger than the client accepts, dropped',
      );
      if (!settled) settle(queue, offset);
      return;
    }
    let packetId = 0;
    if (qos > 0) {
      packetId = (redelivered && qos === 2 && this.takeResendId(offset)) || this.allocatePacketId();
      this.outbound.set(packetId, { queue, offset, qos });
      this.holder.noteDelivery(queue);
    }
    const parts = encodePublish(
      {
        topic,
        qos,
        packetId,
        dup: redelivered && qos > 0,
        retain: plan.retain,
        payload: message.body,
        properties,
      },
      version,
    );
    for (const part of parts) this.link.write(part);
    if (qos === 0 && !settled) settle(queue, offset);
  }

  /** Credit came back (acknowledgement, socket drained). */
  resumeDelivery(): void {
    this.queue?.resumeDelivery();
    this.shared.resumeDelivery();
  }

  onPuback(packetId: number): void {
    const entry = this.outbound.get(packetId);
    if (entry?.qos !== 1) return;
    this.outbound.delete(packetId);
    settle(entry.queue, entry.offset);
    entry.queue.resumeDelivery();
  }

  /**
   * QoS 2, first half: the client has the message. It leaves the queue, and the packet identifier is kept (on
   * disk for a persistent session) until PUBCOMP, so a reconnect resends PUBREL and never the message.
   */
  async onPubrec(packetId: number, reasonCode: number | undefined): Promise<void> {
    const entry = this.outbound.get(packetId);
    if (entry?.qos !== 2) return;
    this.outbound.delete(packetId);
    if (reasonCode !== undefined && reasonCode >= 0x80) {
      // The client refused it (MQTT 5): the exchange ends here.
      settle(entry.queue, entry.offset);
      entry.queue.resumeDelivery();
      return;
    }
    this.released.add(packetId);
    if (this.persistent)
      await this.ctx.sessions.addOutboundQos2(this.ctx.vhost.name, this.clientId, packetId);
    settle(entry.queue, entry.offset);
    if (this.link.isOpen) this.link.write(ackPacket(AckType.pubrel, packetId));
  }

  async onPubcomp(packetId: number): Promise<void> {
    if (!this.released.delete(packetId)) return;
    if (this.persistent) {
      await this.ctx.sessions.removeOutboundQos2(this.ctx.vhost.name, this.clientId, packetId);
    }
    this.queue?.resumeDelivery();
  }

  /** The session's queue was deleted under it (by an administrator): the connection cannot go on. */
  queueDeleted(_queue: Queue, shared?: SharedMembership): void {
    if (shared) {
      this.shared.forget(shared);
      return;
    }
    this.consumer = undefined;
    this.queue = undefined;
    this.link.fail(Reason.unspecifiedError, 'session queue deleted');
  }

  private allocatePacketId(): number {
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 0xffff ? 1 : id + 1;
      if (!this.outbound.has(id) && !this.released.has(id) && !this.reservedIds.has(id)) return id;
    }
  }

  /** The identifier a redelivered QoS 2 message was first sent with, if still free; 0 otherwise. */
  private takeResendId(offset: number): number {
    const id = this.resendIds.get(offset);
    if (id === undefined) return 0;
    this.resendIds.delete(offset);
    this.reservedIds.delete(id);
    return this.outbound.has(id) || this.released.has(id) ? 0 : id;
  }

  // ---- ending ----------------------------------------------------------------------------------------------

  /**
   * The connection ended: deliveries in flight go back to the queue (core releases them by holder). A session
   * with expiry 0 is gone with its queue and records; a longer one records when it was disconnected.
   */
  async detach(): Promise<void> {
    if (this.detached) return;
    this.detached = true;
    if (this.consumer && this.queue) this.queue.removeConsumer(this.consumer);
    this.consumer = undefined;
    this.shared.detach();
    const unconfirmedQos2 = new Map(this.resendIds);
    for (const [id, entry] of this.outbound) if (entry.qos === 2) unconfirmedQos2.set(entry.offset, id);
    this.outbound.clear();
    this.holder.releaseAll();
    const { vhost, sessions } = this.ctx;
    if (!this.persistent) {
      if (this.queue && this.queue.exclusiveOwner === null) {
        await vhost.deleteQueue(this.queueName, { owner: this.owner });
      }
      if (sessions.get(vhost.name, this.clientId)) await sessions.delete(vhost.name, this.clientId);
      return;
    }
    await sessions.putSentQos2(vhost.name, this.clientId, unconfirmedQos2);
    await sessions.put(vhost.name, this.clientId, {
      expirySeconds: this.expirySeconds,
      disconnectedAt: Date.now(),
    });
  }
}

function settle(queue: Queue, offset: number): void {
  if (queue.kind === 'queue' && offset >= 0) queue.ack(offset);
}
