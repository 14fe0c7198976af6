import type { TopicLimits } from '../../core/topic-mapping.js';

/** Bounds every MQTT connection and session lives within (docs/configuration.md lists their defaults). */
export interface MqttLimits extends TopicLimits {
  /** Largest packet accepted once connected (MQTT 5: also announced in CONNACK). */
  maxPacketBytes: number;
  /** Subscriptions one session may hold. */
  maxSubscriptionsPerSession: number;
  /**
   * QoS 1/2 messages in flight per direction: deliveries awaiting the client's acknowledgement, and
   * publishes awaiting ours (MQTT 5: the receive maximum announced in CONNACK).
   */
  maxInflight: number;
  /** Longest a session outlives its connection; caps the client's session expiry (MQTT 3.1.1: clean=0). */
  maxSessionExpirySeconds: number;
  /** Retained messages across the broker, and their payload bytes. */
  maxRetainedMessages: number;
  maxRetainedBytes: number;
  /** Topic aliases a MQTT 5 client may set per connection (announced in CONNACK). */
  topicAliasMaximum: number;
  /** Time from TCP connect to CONNECT. */
  handshakeTimeoutMs: number;
}

export interface MqttSettings {
  /** The topic exchange MQTT publishes go to and subscriptions bind to. */
  exchange: string;
  /** The vhost of clients whose user name does not name one (`vhost:user`). */
  defaultVhost: string;
  /** The user a CONNECT without a user name logs in as; none = such clients are refused. */
  anonymousUser?: string;
  limits: MqttLimits;
}

/** Packets larger than this are refused before CONNECT has been accepted (RabbitMQ's bound). */
export const MAX_PACKET_BYTES_BEFORE_CONNECT = 65536;

/** Client identifiers longer than this are refused: the session queue's name must fit in 255 bytes. */
export const MAX_CLIENT_ID_BYTES = 200;

/** MQTT 5 session expiry meaning "never". */
export const SESSION_NEVER_EXPIRES = 0xffffffff;

/** The queue that holds a session's messages, named as RabbitMQ's MQTT plugin names its QoS 1 queue. */
export function sessionQueueName(clientId: string): string {
  return `mqtt-subscription-${clientId}qos1`;
}

const SESSION_QUEUE = /^mqtt-subscription-(.*)qos1$/s;

/** The client id a session queue belongs to, or undefined for other queues. */
export function clientIdOfQueue(queueName: string): string | undefined {
  return SESSION_QUEUE.exec(queueName)?.[1];
}
