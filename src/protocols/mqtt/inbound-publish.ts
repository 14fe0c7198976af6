import type { IPublishPacket, QoS } from 'mqtt-packet';
import type { Logger } from 'pino';
import { access } from '../../core/authorization.js';
import { QueueFullError } from '../../core/classic-queue.js';
import { BrokerError, ReplyCode } from '../../core/errors.js';
import { topicNameProblem, topicToRoutingKey } from '../../core/topic-mapping.js';
import type { Principal } from '../../core/users.js';
import type { VHost } from '../../core/vhost.js';
import { messageFromPublish } from './message-mapping.js';
import type { MqttLimits } from './mqtt-options.js';
import { AckType, ackPacket } from './packet-writer.js';
import { MqttProtocolError, Reason } from './reason-codes.js';
import { type RetainedProperties, RetainedQuotaError, type RetainedStore } from './retained-store.js';
import type { SessionStore } from './session-store.js';

/** What the publish path needs from the connection. */
export interface PublishLink {
  readonly version: number;
  readonly isOpen: boolean;
  write(buf: Buffer): void;
  /** Publishes awaiting acknowledgement reached the limit (MQTT 3.1.1 back-pressure): stop reading. */
  pauseReading(): void;
  resumeReading(): void;
  /** A failure MQTT 3.1.1 cannot report per message: the connection closes. */
  fail(reason: number, message: string): void;
}

export interface PublishContext {
  vhost: VHost;
  principal: Principal;
  clientId: string;
  exchange: string;
  limits: MqttLimits;
  retained: RetainedStore;
  sessions: SessionStore;
  logger: Logger;
  /** Whether the session must mark its publishes for its own no-local subscriptions. */
  marksPublisher(): boolean;
  /** Whether QoS 2 state must survive the connection (persistent session). */
  persistent(): boolean;
}

/** A QoS 1/2 publish waiting for its acknowledgement to go out, in arrival order. */
interface PendingAck {
  packetId: number;
  qos: QoS;
  /** Stores still to complete: the routed copies, the retained record, the QoS 2 record. */
  waiting: number;
  error: Error | null;
  /** Refused before routing (MQTT 5 reason code). */
  refused: number;
  routedTo: number;
}

/**
 * The broker side of a client's PUBLISH: topic checks, topic aliases, authorisation (RabbitMQ's write on the
 * exchange and topic permission on the routing key), retained messages, routing through the MQTT exchange,
 * and acknowledgements. PUBACK/PUBREC go out only once the message is safe (routed, and fsynced where it was
 * routed to durable queues: the core's onStored), and in the order the publishes came, as MQTT requires.
 */
export class InboundPublisher {
  private readonly pending = new Map<number, PendingAck>();
  private nextSeq = 1;
  private ackSeq = 1;
  private flushScheduled = false;
  private paused = false;
  private readonly aliases = new Map<number, string>();
  /** Inbound QoS 2 packet identifiers between PUBREC and PUBREL. */
  private readonly received: Set<number>;

  constructor(
    private readonly link: PublishLink,
    private readonly ctx: PublishContext,
    resumedQos2: number[],
  ) {
    this.received = new Set(resumedQos2);
  }

  /** QoS 1/2 publishes not yet completed, counted against the receive maximum. */
  get inFlight(): number {
    return this.pending.size + this.received.size;
  }

  publish(packet: IPublishPacket): void {
    const v5 = this.link.version === 5;
    const topic = this.resolveTopic(packet);
    const problem = topicNameProblem(topic, this.ctx.limits);
    if (problem !== undefined) throw new MqttProtocolError(Reason.topicNameInvalid, problem);
    const qos = packet.qos;
    const packetId = packet.messageId ?? 0;
    if (qos === 2 && this.received.has(packetId)) {
      // A resend of a publish we already have: acknowledge again, never route twice.
      this.link.write(ackPacket(AckType.pubrec, packetId));
      return;
    }
    if (qos > 0 && v5 && this.inFlight >= this.ctx.limits.maxInflight) {
      throw new MqttProtocolError(
        Reason.receiveMaximumExceeded,
        'more QoS 1/2 publishes in flight than allowed',
      );
    }
    const { vhost, principal, exchange } = this.ctx;
    const routingKey = topicToRoutingKey(topic);
    try {
      access.publish(principal, vhost.name, exchange);
      const target = vhost.getExchange(exchange);
      access.publishTopic(principal, vhost.name, target, routingKey);
    } catch (err) {
      const refused = err instanceof BrokerError && err.code === ReplyCode.accessRefused;
      const reason = refused ? Reason.notAuthorized : Reason.unspecifiedError;
      this.ctx.logger.info(
        { clientId: this.ctx.clientId, topic, reason: (err as Error).message },
        'publish refused',
      );
      if (!v5 || qos === 0) throw new MqttProtocolError(reason, `publish to '${topic}' refused`);
      this.track(packetId, qos, 0, reason);
      return;
    }
    const now = Date.now();
    const message = messageFromPublish(
      exchange,
      topic,
      qos,
      packet.payload as Buffer,
      v5 ? withoutAlias(packet.properties) : undefined,
      { retain: packet.retain, publisher: this.ctx.marksPublisher() ? this.ctx.clientId : undefined },
      now,
    );
    let retained: Promise<void> | undefined;
    if (packet.retain) {
      const stored = this.retain(topic, packet, now);
      // MQTT 5 can refuse the publish; MQTT 3.1.1 cannot, so its message is routed, only not retained (logged).
      if (stored === undefined && v5 && qos > 0) {
        this.track(packetId, qos, 0, Reason.quotaExceeded);
        return;
      }
      retained = stored;
    }
    const entry = qos > 0 ? this.track(packetId, qos, 1, 0) : undefined;
    const done = entry ? (err: Error | null) => this.stored(entry, err) : undefined;
    if (retained) this.await(retained, entry, topic);
    // Known from now on, so a resend can never be routed a second time.
    if (qos === 2) this.received.add(packetId);
    if (entry && qos === 2 && this.ctx.persistent()) {
      this.await(this.ctx.sessions.addInboundQos2(vhost.name, this.ctx.clientId, packetId), entry, topic);
    }
    let routedTo = 0;
    try {
      routedTo = vhost.publish(exchange, message, done);
    } catch (err) {
      this.ctx.logger.warn({ clientId: this.ctx.clientId, err }, 'publish failed');
      if (!entry) throw new MqttProtocolError(Reason.unspecifiedError, `publish to '${topic}' failed`);
      this.stored(entry, err as Error);
      return;
    }
    if (entry) entry.routedTo = routedTo;
  }

  /** PUBREL for an inbound QoS 2 publish: forget its identifier (durably first), then PUBCOMP. */
  async release(packetId: number): Promise<void> {
    const known = this.received.delete(packetId);
    if (known && this.ctx.persistent()) {
      await this.ctx.sessions.removeInboundQos2(this.ctx.vhost.name, this.ctx.clientId, packetId);
    }
    if (!this.link.isOpen) return;
    const reason = known || this.link.version !== 5 ? Reason.success : Reason.packetIdentifierNotFound;
    this.link.write(ackPacket(AckType.pubcomp, packetId, reason, this.link.version));
  }

  private resolveTopic(packet: IPublishPacket): string {
    const alias = packet.properties?.topicAlias;
    if (this.link.version !== 5 || alias === undefined) return packet.topic;
    if (alias === 0 || alias > this.ctx.limits.topicAliasMaximum) {
      throw new MqttProtocolError(Reason.topicAliasInvalid, `topic alias ${alias} out of range`);
    }
    if (packet.topic.length > 0) {
      this.aliases.set(alias, packet.topic);
      return packet.topic;
    }
    const topic = this.aliases.get(alias);
    if (topic === undefined)
      throw new MqttProtocolError(Reason.protocolError, `unknown topic alias ${alias}`);
    return topic;
  }

  /** Stores or clears the topic's retained message; undefined when the bounds refuse it. */
  private retain(topic: string, packet: IPublishPacket, now: number): Promise<void> | undefined {
    const props = packet.properties;
    const retainedProps: RetainedProperties | undefined =
      this.link.version === 5 && props
        ? {
            contentType: props.contentType,
            responseTopic: props.responseTopic,
            correlationData: props.correlationData,
            userProperties: props.userProperties,
            payloadFormatIndicator: props.payloadFormatIndicator,
          }
        : undefined;
    const expiry = this.link.version === 5 ? props?.messageExpiryInterval : undefined;
    try {
      return this.ctx.retained.put(this.ctx.vhost.name, {
        topic,
        payload: packet.payload as Buffer,
        qos: packet.qos,
        properties: retainedProps && dropUndefined(retainedProps),
        storedAt: now,
        expiresAt: expiry === undefined ? 0 : now + expiry * 1000,
      });
    } catch (err) {
      if (!(err instanceof RetainedQuotaError)) throw err;
      this.ctx.logger.warn(
        { clientId: this.ctx.clientId, topic, reason: err.message },
        'retained message refused',
      );
      return undefined;
    }
  }

  /** The acknowledgement of `entry` also waits for `write` (without an entry, a failure is only logged). */
  private await(write: Promise<void>, entry: PendingAck | undefined, topic: string): void {
    if (!entry) {
      write.catch((err: unknown) => this.ctx.logger.error({ err, topic }, 'storing MQTT state failed'));
      return;
    }
    entry.waiting++;
    write.then(
      () => this.stored(entry, null),
      (err: Error) => this.stored(entry, err),
    );
  }

  private track(packetId: number, qos: QoS, waiting: number, refused: number): PendingAck {
    const entry: PendingAck = { packetId, qos, waiting, error: null, refused, routedTo: 0 };
    this.pending.set(this.nextSeq++, entry);
    if (!this.paused && this.pending.size >= this.ctx.limits.maxInflight) {
      this.paused = true;
      this.link.pauseReading();
    }
    if (waiting === 0) this.scheduleFlush();
    return entry;
  }

  private stored(entry: PendingAck, err: Error | null): void {
    if (err) entry.error ??= err;
    if (--entry.waiting === 0) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Sends the acknowledgements that are due, in arrival order. */
  private flush(): void {
    this.flushScheduled = false;
    for (
      let entry = this.pending.get(this.ackSeq);
      entry && entry.waiting === 0;
      entry = this.pending.get(this.ackSeq)
    ) {
      this.pending.delete(this.ackSeq++);
      if (!this.link.isOpen) continue;
      const reason = this.reasonFor(entry);
      if (reason === undefined) return;
      if (entry.qos === 2 && reason >= 0x80) this.received.delete(entry.packetId);
      const type = entry.qos === 1 ? AckType.puback : AckType.pubrec;
      this.link.write(ackPacket(type, entry.packetId, reason, this.link.version));
    }
    if (this.paused && this.pending.size < this.ctx.limits.maxInflight / 2) {
      this.paused = false;
      this.link.resumeReading();
    }
  }

  /** The v5 reason code of a completed publish; undefined when the connection had to close instead (v3). */
  private reasonFor(entry: PendingAck): number | undefined {
    if (entry.refused !== 0) return entry.refused;
    const err = entry.error;
    if (err === null) return entry.routedTo === 0 ? Reason.noMatchingSubscribers : Reason.success;
    this.ctx.logger.warn({ clientId: this.ctx.clientId, err }, 'publish not stored');
    if (this.link.version === 5)
      return err instanceof QueueFullError ? Reason.quotaExceeded : Reason.unspecifiedError;
    // MQTT 3.1.1 has no negative acknowledgement: closing is the only way to say the message was not taken.
    this.link.fail(Reason.unspecifiedError, 'a published message could not be stored');
    return undefined;
  }
}

function withoutAlias(properties: IPublishPacket['properties']): IPublishPacket['properties'] {
  if (!properties) return undefined;
  const { topicAlias: _alias, subscriptionIdentifier: _id, ...rest } = properties;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

function dropUndefined<T extends object>(value: T): T | undefined {
  const entries = Object.entries(value).filter(([, v]) => v !== undefined);
  return entries.length > 0 ? (Object.fromEntries(entries) as T) : undefined;
}
