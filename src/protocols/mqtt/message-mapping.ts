import { isUtf8 } from 'node:buffer';
import type { IPublishPacket, QoS, UserProperties } from 'mqtt-packet';
import { type BasicProperties, encodeBasicProperties } from '../../codec/basic-properties.js';
import type { FieldTable, FieldValue } from '../../codec/field-table.js';
import { Message } from '../../core/message.js';
import { routingKeyToTopic, topicToRoutingKey } from '../../core/topic-mapping.js';
import type { RetainedMessage } from './retained-store.js';

/**
 * MQTT PUBLISH <-> the core's Message (AMQP basic properties), both ways, as documented in docs/mqtt.md:
 *   QoS 0 / 1 / 2        delivery-mode 1 / 2 / 2, plus header x-mqtt-publish-qos = 2 for QoS 2
 *   RETAIN               header x-mqtt-retain = true
 *   message expiry (s)   expiration (ms)
 *   content type         content-type
 *   response topic       reply-to (as a routing key)
 *   correlation data     correlation-id (UTF-8 up to 255 bytes), else header x-correlation-id (bytes)
 *   user properties      headers (a repeated name becomes an array of strings)
 * An AMQP message reaches MQTT subscribers at QoS 1 when persistent, else QoS 0 (RabbitMQ's rule).
 */

export const HEADER_PUBLISH_QOS = 'x-mqtt-publish-qos';
export const HEADER_RETAIN = 'x-mqtt-retain';
/** Set on a retained message copied into a session's queue when it subscribes: it goes out with RETAIN set. */
export const HEADER_RETAINED_COPY = 'x-mqtt-retained';
/** The publisher's client id, only on messages of a session with a no-local subscription. */
export const HEADER_PUBLISHER = 'x-mqtt-publisher';
const HEADER_CORRELATION = 'x-correlation-id';

const SHORTSTR_MAX = 255;

/** The two property sets nearly every MQTT publish has, encoded once. */
const TRANSIENT_PROPERTIES = encodeBasicProperties({ deliveryMode: 1 });
const PERSISTENT_PROPERTIES = encodeBasicProperties({ deliveryMode: 2 });

export interface PublishMarks {
  retain: boolean;
  /** The publishing client id, to be recognised by its own no-local subscriptions. */
  publisher?: string;
  /** A retained message re-sent at subscription time. */
  retainedCopy?: boolean;
}

/** The core message for an MQTT publish (topic already validated). */
export function messageFromPublish(
  exchange: string,
  topic: string,
  qos: QoS,
  payload: Buffer,
  properties: IPublishPacket['properties'],
  marks: PublishMarks,
  now: number,
): Message {
  const routingKey = topicToRoutingKey(topic);
  const plain =
    qos < 2 && !marks.retain && marks.publisher === undefined && !marks.retainedCopy && !properties;
  const encoded = plain
    ? qos === 0
      ? TRANSIENT_PROPERTIES
      : PERSISTENT_PROPERTIES
    : encodeBasicProperties(basicPropertiesOf(qos, properties, marks));
  return Message.fromPublish(exchange, routingKey, encoded, payload, now);
}

function basicPropertiesOf(
  qos: QoS,
  properties: IPublishPacket['properties'],
  marks: PublishMarks,
): BasicProperties {
  const headers: FieldTable = {};
  const basic: BasicProperties = { deliveryMode: qos === 0 ? 1 : 2 };
  if (properties?.userProperties) {
    for (const [name, value] of Object.entries(properties.userProperties)) headers[name] = value;
  }
  if (qos === 2) headers[HEADER_PUBLISH_QOS] = 2;
  if (marks.retain) headers[HEADER_RETAIN] = true;
  if (marks.retainedCopy) headers[HEADER_RETAINED_COPY] = true;
  if (marks.publisher !== undefined) headers[HEADER_PUBLISHER] = marks.publisher;
  if (properties) {
    if (properties.contentType !== undefined) {
      if (Buffer.byteLength(properties.contentType) <= SHORTSTR_MAX)
        basic.contentType = properties.contentType;
      else headers['x-mqtt-content-type'] = properties.contentType;
    }
    if (properties.messageExpiryInterval !== undefined) {
      basic.expiration = String(properties.messageExpiryInterval * 1000);
    }
    if (properties.responseTopic !== undefined) {
      const replyTo = topicToRoutingKey(properties.responseTopic);
      if (Buffer.byteLength(replyTo) <= SHORTSTR_MAX) basic.replyTo = replyTo;
      else headers['x-reply-to'] = replyTo;
    }
    const correlation = properties.correlationData;
    if (correlation !== undefined) {
      if (correlation.length <= SHORTSTR_MAX && isUtf8(correlation)) {
        basic.correlationId = correlation.toString('utf8');
      } else headers[HEADER_CORRELATION] = correlation;
    }
  }
  if (Object.keys(headers).length > 0) basic.headers = headers;
  return basic;
}

/** A retained message re-sent to a new subscription: RETAIN set, its expiry counting down from now. */
export function messageOfRetained(exchange: string, retained: RetainedMessage, now: number): Message {
  let properties: IPublishPacket['properties'] = retained.properties;
  if (retained.expiresAt !== 0) {
    const remainingSeconds = Math.max(1, Math.ceil((retained.expiresAt - now) / 1000));
    properties = { ...properties, messageExpiryInterval: remainingSeconds };
  }
  return messageFromPublish(
    exchange,
    retained.topic,
    retained.qos,
    retained.payload,
    properties,
    { retain: true, retainedCopy: true },
    now,
  );
}

/** The QoS a message was published with: MQTT's own mark, else persistent = 1, transient = 0. */
export function publishedQos(message: Message): QoS {
  if (message.hasHeaders && message.headers?.[HEADER_PUBLISH_QOS] === 2) return 2;
  return message.persistent ? 1 : 0;
}

export function headerFlag(message: Message, name: string): boolean {
  return message.hasHeaders && message.headers?.[name] === true;
}

export function publisherOf(message: Message): string | undefined {
  if (!message.hasHeaders) return undefined;
  const value = message.headers?.[HEADER_PUBLISHER];
  return typeof value === 'string' ? value : undefined;
}

/** The topic an MQTT subscriber sees for a message. */
export function topicOf(message: Message): string {
  return routingKeyToTopic(message.routingKey);
}

/** Headers that are MQTT's own bookkeeping, never shown as user properties. */
function isInternalHeader(name: string): boolean {
  return name.startsWith('x-mqtt-') || name === HEADER_CORRELATION || name === 'x-reply-to';
}

/**
 * MQTT 5 PUBLISH properties for a delivery: only decoded when the message carries more than a delivery mode
 * (flags word + one octet), so plain messages cost nothing.
 */
export function publishPropertiesOf(
  message: Message,
  subscriptionIds: number[] | undefined,
  now: number,
): IPublishPacket['properties'] | undefined {
  let out: NonNullable<IPublishPacket['properties']> | undefined;
  if (subscriptionIds !== undefined && subscriptionIds.length > 0) {
    out = { subscriptionIdentifier: subscriptionIds.length === 1 ? subscriptionIds[0] : subscriptionIds };
  }
  if (message.ttl >= 0) {
    out ??= {};
    out.messageExpiryInterval = Math.max(0, Math.ceil((message.timestamp + message.ttl - now) / 1000));
  }
  if (message.properties.length <= 3) return out;
  const props = message.decodedProperties;
  out ??= {};
  if (props.contentType !== undefined) out.contentType = props.contentType;
  if (props.replyTo !== undefined) out.responseTopic = routingKeyToTopic(props.replyTo);
  if (props.correlationId !== undefined) out.correlationData = Buffer.from(props.correlationId, 'utf8');
  const headers = props.headers;
  if (headers !== undefined) {
    const correlation = headers[HEADER_CORRELATION];
    if (Buffer.isBuffer(correlation)) out.correlationData = correlation;
    const longContentType = headers['x-mqtt-content-type'];
    if (typeof longContentType === 'string') out.contentType = longContentType;
    const longReplyTo = headers['x-reply-to'];
    if (typeof longReplyTo === 'string') out.responseTopic = routingKeyToTopic(longReplyTo);
    const user: UserProperties = {};
    let any = false;
    for (const [name, value] of Object.entries(headers)) {
      if (isInternalHeader(name)) continue;
      const text = userPropertyValue(value);
      if (text === undefined) continue;
      user[name] = text;
      any = true;
    }
    if (any) out.userProperties = user;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** A header as an MQTT user property: strings, numbers and booleans as text; tables and the like are left out. */
function userPropertyValue(value: FieldValue): string | string[] | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (Buffer.isBuffer(value)) return isUtf8(value) ? value.toString('utf8') : undefined;
  if (Array.isArray(value)) {
    const parts: string[] = [];
    for (const item of value) {
      const text = userPropertyValue(item);
      if (typeof text === 'string') parts.push(text);
    }
    return parts.length > 0 ? parts : undefined;
  }
  return undefined;
}
