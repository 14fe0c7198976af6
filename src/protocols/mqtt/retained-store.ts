import type { IPublishPacket, QoS } from 'mqtt-packet';
import type { ProtocolState } from '../../core/protocol-state.js';
import { TopicTree } from './topic-tree.js';

/**
 * Retained messages: the last message published with RETAIN on each topic, per vhost, kept durably in the
 * metadata store (one record per topic; a new one replaces it, an empty payload removes it) and in memory in
 * a topic trie for matching at subscribe time. Bounded in count and payload bytes across the broker: a
 * retained publish past either bound is refused (RetainedQuotaError), never silently dropped.
 */

export type RetainedProperties = Pick<
  NonNullable<IPublishPacket['properties']>,
  'contentType' | 'responseTopic' | 'correlationData' | 'userProperties' | 'payloadFormatIndicator'
>;

export interface RetainedMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  properties?: RetainedProperties;
  /** When it was published (ms since the epoch). */
  storedAt: number;
  /** MQTT 5 message expiry (ms since the epoch); 0 = never. */
  expiresAt: number;
}

export interface RetainedLimits {
  maxMessages: number;
  maxBytes: number;
}

interface StoredRetained {
  q: QoS;
  p: string;
  s: number;
  e: number;
  props?: Omit<RetainedProperties, 'correlationData'> & { correlationData?: string };
}

export class RetainedQuotaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RetainedQuotaError';
  }
}

const KEY = 'retained\u0000';

export class RetainedStore {
  private readonly trees = new Map<string, TopicTree<RetainedMessage>>();
  private count = 0;
  private bytes = 0;

  constructor(
    private readonly state: ProtocolState,
    private readonly limits: RetainedLimits,
  ) {}

  get messageCount(): number {
    return this.count;
  }

  /** Loads every vhost's retained messages (at start). */
  load(vhosts: Iterable<string>): void {
    for (const vhost of vhosts) {
      for (const [key, value] of this.state.entries(vhost, KEY)) {
        const stored = value as StoredRetained;
        this.remember(vhost, fromStored(key.slice(KEY.length), stored));
      }
    }
  }

  /**
   * Stores (or, for an empty payload, clears) the retained message of its topic; resolves once durable.
   * Throws RetainedQuotaError synchronously when the bounds do not allow it.
   */
  put(vhost: string, message: RetainedMessage): Promise<void> {
    if (message.payload.length === 0) return this.clear(vhost, message.topic);
    const previous = this.trees.get(vhost)?.get(message.topic);
    const count = this.count + (previous ? 0 : 1);
    const bytes = this.bytes - (previous?.payload.length ?? 0) + message.payload.length;
    if (count > this.limits.maxMessages) {
      throw new RetainedQuotaError(`retained message limit (${this.limits.maxMessages}) reached`);
    }
    if (bytes > this.limits.maxBytes) {
      throw new RetainedQuotaError(`retained message bytes limit (${this.limits.maxBytes}) reached`);
    }
    this.remember(vhost, message);
    return this.state.put(vhost, KEY + message.topic, toStored(message));
  }

  clear(vhost: string, topic: string): Promise<void> {
    const previous = this.trees.get(vhost)?.delete(topic);
    if (!previous) return Promise.resolve();
    this.count--;
    this.bytes -= previous.payload.length;
    return this.state.delete(vhost, KEY + topic);
  }

  /** The retained messages matching a filter; expired ones are removed on the way. */
  match(vhost: string, filter: string, now: number): RetainedMessage[] {
    const found: RetainedMessage[] = [];
    const expired: string[] = [];
    this.trees.get(vhost)?.match(filter, (message) => {
      if (message.expiresAt !== 0 && message.expiresAt <= now) expired.push(message.topic);
      else found.push(message);
    });
    for (const topic of expired) void this.clear(vhost, topic).catch(() => {});
    return found;
  }

  /** A vhost was deleted: its records went with it, drop the memory. */
  forgetVhost(vhost: string): void {
    const tree = this.trees.get(vhost);
    if (!tree) return;
    this.trees.delete(vhost);
    this.count -= tree.size;
    tree.forEach((message) => {
      this.bytes -= message.payload.length;
    });
  }

  private remember(vhost: string, message: RetainedMessage): void {
    let tree = this.trees.get(vhost);
    if (!tree) this.trees.set(vhost, (tree = new TopicTree()));
    const previous = tree.set(message.topic, message);
    if (!previous) this.count++;
    this.bytes += message.payload.length - (previous?.payload.length ?? 0);
  }
}

function toStored(message: RetainedMessage): StoredRetained {
  const stored: StoredRetained = {
    q: message.qos,
    p: message.payload.toString('base64'),
    s: message.storedAt,
    e: message.expiresAt,
  };
  if (message.properties) {
    const { correlationData, ...rest } = message.properties;
    stored.props = {
      ...rest,
      ...(correlationData ? { correlationData: correlationData.toString('base64') } : {}),
    };
  }
  return stored;
}

function fromStored(topic: string, stored: StoredRetained): RetainedMessage {
  const message: RetainedMessage = {
    topic,
    payload: Buffer.from(stored.p, 'base64'),
    qos: stored.q,
    storedAt: stored.s,
    expiresAt: stored.e,
  };
  if (stored.props) {
    const { correlationData, ...rest } = stored.props;
    message.properties = {
      ...rest,
      ...(correlationData === undefined ? {} : { correlationData: Buffer.from(correlationData, 'base64') }),
    };
  }
  return message;
}
