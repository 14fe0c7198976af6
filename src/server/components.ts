import type { SecureContextOptions } from 'node:tls';
import { setMaxFieldTableDepth } from '../codec/field-table.js';
import type { Administration } from '../core/administration.js';
import { Broker, type BrokerOptions } from '../core/broker.js';
import type { User } from '../core/users.js';
import type { BoundAddress } from '../net/listen-on-hosts.js';
import {
  AmqpServer,
  type AmqpServerOptions,
  type AmqpsListenerOptions,
} from '../protocols/amqp091/amqp-server.js';
import {
  MqttServer,
  type MqttServerOptions,
  type MqttsListenerOptions,
} from '../protocols/mqtt/mqtt-server.js';
import type { BrokerConfig } from './config.js';
import type { HealthStats, UpgradeHandler } from './http-server.js';
import type { Logger } from './logger.js';
import type { DefinitionsAdmin } from './management-definitions.js';
import type { StreamAdmin } from './management-streams.js';

/**
 * What the server wiring needs from the broker core and the AMQP adapter: just enough to start, report
 * health and shut down in order. startServer() takes these as a parameter so its start/stop sequence can
 * be tested with stand-ins.
 */

export interface BrokerHandle {
  close(): Promise<void>;
  /** Serves the management API (users, vhosts, permissions, limits, policies) over HTTP when present. */
  readonly admin?: Administration;
  authenticate?(user: string, password: string, remoteAddress: string | undefined): Promise<User | undefined>;
  /** A user named by a verified TLS client certificate (SASL EXTERNAL), without a password. */
  authenticateExternal?(name: string, remoteAddress: string | undefined): Promise<User | undefined>;
  vhost?(name: string): unknown;
  /** A vhost's message counts for the management API's vhost listing. */
  messageCounts?(vhost: string): { ready: number; unacknowledged: number } | undefined;
  /** Subscribes to failed store writes (the resource alarm re-checks free disk at once); returns an unsubscribe. */
  onStoreWriteError?(listener: (err: Error) => void): () => void;
  /** Streams' consumer groups for the management API, when the broker has streams. */
  readonly streams?: StreamAdmin;
  /** Definitions export and import for the management API. */
  readonly definitions?: DefinitionsAdmin;
  /** Optional figures for GET /health. */
  stats?(): HealthStats | Promise<HealthStats>;
}

/** A protocol adapter's server as the wiring drives it: listeners, connections, resource-alarm blocking. */
export interface ProtocolServerHandle {
  /** Open client connections, reported by GET /health. */
  readonly connectionCount?: number;
  listen(): Promise<BoundAddress[]>;
  /** Binds the protocol's TLS listener (amqps, mqtts). */
  listenTls?(options: AmqpsListenerOptions | MqttsListenerOptions): Promise<BoundAddress[]>;
  /** Reloaded TLS credentials for the TLS listener; open connections keep theirs. */
  setSecureContext?(context: SecureContextOptions): void;
  stopAccepting(): Promise<void>;
  /** Tells every client the broker is going away (AMQP: 320 CONNECTION_FORCED) and waits (bounded) for them. */
  closeAllConnections(replyText: string): Promise<void>;
  /** A resource alarm started (its reason) or cleared (null): block or unblock publishers. */
  setBlocked?(reason: string | null): void;
}

export type AmqpServerHandle = ProtocolServerHandle;

export interface MqttServerHandle extends ProtocolServerHandle {
  /** Loads the adapter's durable state (retained messages, session expiry); before listen(). */
  start?(): Promise<void>;
  /** Serves MQTT over WebSocket: the HTTP listener hands it the upgrade requests of /mqtt. */
  webSocketUpgrade?(): UpgradeHandler;
}

export interface ServerComponents {
  openBroker(config: BrokerConfig, logger: Logger): Promise<BrokerHandle>;
  createAmqpServer(broker: BrokerHandle, config: BrokerConfig, logger: Logger): AmqpServerHandle;
  /** Absent: no MQTT (stand-ins in tests). */
  createMqttServer?(broker: BrokerHandle, config: BrokerConfig, logger: Logger): MqttServerHandle;
}

/** The core's options, taken from the validated configuration. */
export function brokerOptions(config: BrokerConfig): BrokerOptions {
  return {
    dataDir: config.dataDir,
    fsync: config.fsync,
    segmentMaxBytes: config.limits.segmentMaxBytes,
    queueCacheBytes: config.limits.queueCacheBytes,
    queueReadAheadBytes: config.limits.queueReadAheadBytes,
    maxOpenFiles: config.limits.maxOpenFiles,
    users: config.users,
    createDefaultUser: config.defaultUser ?? config.users.length === 0,
    vhosts: config.vhosts,
  };
}

/** The AMQP adapter's options: where to listen and which limits to enforce. */
export function amqpServerOptions(config: BrokerConfig): AmqpServerOptions {
  const { limits } = config;
  return {
    hosts: [...config.hosts],
    port: config.amqpPort,
    maxConnections: limits.maxConnections,
    limits: {
      frameMax: limits.frameMax,
      channelMax: limits.channelMax,
      heartbeat: limits.heartbeatSeconds,
      maxMessageSize: limits.maxMessageSize,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
      maxConsumersPerChannel: limits.maxConsumersPerChannel,
    },
  };
}

/** The MQTT adapter's options: where to listen, the exchange and vhost it maps onto, its bounds. */
export function mqttServerOptions(config: BrokerConfig): MqttServerOptions {
  const { mqtt, limits } = config;
  return {
    hosts: [...config.hosts],
    port: config.mqttPort,
    maxConnections: limits.maxConnections,
    exchange: mqtt.exchange,
    defaultVhost: mqtt.vhost,
    anonymousUser: mqtt.anonymousUser,
    limits: {
      maxPacketBytes: mqtt.maxPacketSize,
      maxTopicBytes: mqtt.maxTopicLength,
      maxTopicLevels: mqtt.maxTopicLevels,
      maxSubscriptionsPerSession: mqtt.maxSubscriptions,
      maxInflight: mqtt.maxInflight,
      maxSessionExpirySeconds: mqtt.maxSessionExpirySeconds,
      maxRetainedMessages: mqtt.maxRetainedMessages,
      maxRetainedBytes: mqtt.maxRetainedBytes,
      topicAliasMaximum: mqtt.topicAliasMaximum,
      handshakeTimeoutMs: limits.handshakeTimeoutMs,
    },
  };
}

/** The production components: the core Broker, the AMQP 0-9-1 and MQTT adapters. */
export const defaultComponents: ServerComponents = {
  openBroker: (config, logger) => Broker.open(brokerOptions(config), logger),
  createAmqpServer: (broker, config, logger) => {
    // The codec's nesting bound is process-wide: one broker per process.
    setMaxFieldTableDepth(config.limits.maxHeaderTableDepth);
    return new AmqpServer(broker as Broker, amqpServerOptions(config), logger);
  },
  createMqttServer: (broker, config, logger) =>
    new MqttServer(broker as Broker, mqttServerOptions(config), logger),
};
