import type { IConnectPacket, QoS } from 'mqtt-packet';
import type { Logger } from 'pino';
import { access } from '../../core/authorization.js';
import { topicToRoutingKey } from '../../core/topic-mapping.js';
import type { Principal } from '../../core/users.js';
import type { VHost } from '../../core/vhost.js';
import { messageFromPublish } from './message-mapping.js';
import type { RetainedStore } from './retained-store.js';

/** The message a client leaves behind for when its connection ends without a normal DISCONNECT. */
export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties?: NonNullable<IConnectPacket['will']>['properties'];
  /** MQTT 5 will delay: seconds after the connection ends (capped by the session expiry). */
  delaySeconds: number;
}

export interface WillContext {
  vhost: VHost;
  principal: Principal;
  clientId: string;
  exchange: string;
  retained: RetainedStore;
  logger: Logger;
}

export function willOfConnect(connect: IConnectPacket): WillMessage | undefined {
  const will = connect.will;
  if (!will) return undefined;
  const { willDelayInterval, ...properties } = will.properties ?? {};
  return {
    topic: will.topic,
    payload: Buffer.isBuffer(will.payload) ? will.payload : Buffer.from(will.payload),
    qos: will.qos ?? 0,
    retain: will.retain === true,
    properties: Object.keys(properties).length > 0 ? properties : undefined,
    delaySeconds: willDelayInterval ?? 0,
  };
}

/**
 * Publishes a will as the client would have (its permissions apply at this moment): routed through the MQTT
 * exchange and, with RETAIN, stored as the topic's retained message. Failures are logged: nobody is left to
 * tell.
 */
export function publishWill(will: WillMessage, ctx: WillContext): void {
  const { vhost, principal, exchange, logger, clientId } = ctx;
  try {
    access.publish(principal, vhost.name, exchange);
    access.publishTopic(principal, vhost.name, vhost.getExchange(exchange), topicToRoutingKey(will.topic));
  } catch (err) {
    logger.info({ clientId, topic: will.topic, reason: (err as Error).message }, 'will message refused');
    return;
  }
  const now = Date.now();
  const expiry = will.properties?.messageExpiryInterval;
  if (will.retain) {
    const props = will.properties;
    try {
      ctx.retained
        .put(vhost.name, {
          topic: will.topic,
          payload: will.payload,
          qos: will.qos,
          properties: props && {
            contentType: props.contentType,
            responseTopic: props.responseTopic,
            correlationData: props.correlationData,
            userProperties: props.userProperties,
            payloadFormatIndicator: props.payloadFormatIndicator,
          },
          storedAt: now,
          expiresAt: expiry === undefined ? 0 : now + expiry * 1000,
        })
        .catch((err: unknown) => logger.error({ err, clientId }, 'storing a retained will failed'));
    } catch (err) {
      logger.warn({ clientId, topic: will.topic, reason: (err as Error).message }, 'retained will refused');
    }
  }
  const message = messageFromPublish(
    exchange,
    will.topic,
    will.qos,
    will.payload,
    will.properties,
    { retain: will.retain },
    now,
  );
  try {
    vhost.publish(exchange, message, (err) => {
      if (err) logger.warn({ err, clientId }, 'will message not stored');
    });
    logger.debug({ clientId, topic: will.topic }, 'will message published');
  } catch (err) {
    logger.warn({ err, clientId }, 'will message not published');
  }
}
