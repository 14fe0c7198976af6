import type { QoS } from 'mqtt-packet';
import type { FieldTable, FieldValue } from '../../codec/field-table.js';
import type { Message } from '../../core/message.js';
import { bindingKeyToFilter, filterToBindingKey, wildcardSkipsTopic } from '../../core/topic-mapping.js';
import { TopicMatcher } from '../../core/topic-matcher.js';
import {
  HEADER_RETAIN,
  HEADER_RETAINED_COPY,
  headerFlag,
  publishedQos,
  publisherOf,
  topicOf,
} from './message-mapping.js';

/** One topic filter of a session with its MQTT options. */
export interface Subscription {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  /** 0: send retained messages at subscribe; 1: only for a new subscription; 2: never. */
  retainHandling: 0 | 1 | 2;
  /** MQTT 5 subscription identifier. */
  id?: number;
}

/** How one message goes out to the session. */
export interface DeliveryPlan {
  qos: QoS;
  retain: boolean;
  /** Identifiers of the matching subscriptions that have one (MQTT 5). */
  subscriptionIds?: number[];
}

/** The binding argument that carries a subscription's options, named as RabbitMQ names it. */
export const SUBSCRIPTION_OPTIONS = 'x-mqtt-subscription-opts';

export function bindingArguments(sub: Subscription): FieldTable {
  const options: FieldTable = {
    qos: sub.qos,
    'no-local': sub.noLocal,
    'retain-as-published': sub.retainAsPublished,
    'retain-handling': sub.retainHandling,
  };
  if (sub.id !== undefined) options.id = sub.id;
  return { [SUBSCRIPTION_OPTIONS]: options };
}

/** A session queue's binding as a subscription (sessions resumed after a reconnect or a restart). */
export function subscriptionOfBinding(bindingKey: string, args: FieldTable): Subscription {
  const raw = args[SUBSCRIPTION_OPTIONS];
  const options =
    raw !== null && typeof raw === 'object' && !Array.isArray(raw) && !Buffer.isBuffer(raw) ? raw : {};
  const field = (name: string): FieldValue => (options as FieldTable)[name];
  const qos = field('qos');
  const handling = field('retain-handling');
  const id = field('id');
  return {
    filter: bindingKeyToFilter(bindingKey),
    qos: qos === 1 || qos === 2 ? qos : 0,
    noLocal: field('no-local') === true,
    retainAsPublished: field('retain-as-published') === true,
    retainHandling: handling === 1 || handling === 2 ? handling : 0,
    ...(typeof id === 'number' ? { id } : {}),
  };
}

/**
 * A session's subscriptions, and for each delivered message the decision the AMQP binding alone cannot make:
 * which of the session's filters it matched (MQTT's `$` rule and no-local applied), hence its QoS, RETAIN flag
 * and subscription identifiers. One queue serves all of a session's filters, so a message matching several of
 * them goes out once, at the highest QoS granted (which MQTT allows).
 */
export class SessionSubscriptions {
  private readonly byFilter = new Map<string, Subscription>();
  private readonly matcher = new TopicMatcher<Subscription>();
  private noLocalCount = 0;
  private highestQos: QoS = 0;
  private lastKey: string | undefined;
  private lastMatch: Subscription[] = [];

  get size(): number {
    return this.byFilter.size;
  }

  get maxQos(): QoS {
    return this.highestQos;
  }

  /** Whether this session's own publishes must be marked, for its no-local subscriptions. */
  get hasNoLocal(): boolean {
    return this.noLocalCount > 0;
  }

  get(filter: string): Subscription | undefined {
    return this.byFilter.get(filter);
  }

  all(): IterableIterator<Subscription> {
    return this.byFilter.values();
  }

  /** Adds or replaces the subscription of its filter; returns the one it replaced. */
  set(sub: Subscription): Subscription | undefined {
    const previous = this.delete(sub.filter);
    this.byFilter.set(sub.filter, sub);
    this.matcher.add(filterToBindingKey(sub.filter), sub);
    if (sub.noLocal) this.noLocalCount++;
    if (sub.qos > this.highestQos) this.highestQos = sub.qos;
    this.lastKey = undefined;
    return previous;
  }

  delete(filter: string): Subscription | undefined {
    const sub = this.byFilter.get(filter);
    if (!sub) return undefined;
    this.byFilter.delete(filter);
    this.matcher.remove(filterToBindingKey(filter), sub);
    if (sub.noLocal) this.noLocalCount--;
    this.highestQos = 0;
    for (const other of this.byFilter.values()) if (other.qos > this.highestQos) this.highestQos = other.qos;
    this.lastKey = undefined;
    return sub;
  }

  /** How a message goes out, or undefined when none of the session's filters takes it. */
  plan(message: Message, clientId: string): DeliveryPlan | undefined {
    const matched = this.matching(message.routingKey);
    if (matched.length === 0) return undefined;
    const topic = matched.some((sub) => sub.filter[0] === '+' || sub.filter[0] === '#')
      ? topicOf(message)
      : undefined;
    const publisher = this.noLocalCount > 0 ? publisherOf(message) : undefined;
    let qos: QoS = 0;
    let any = false;
    let asPublished = false;
    let ids: number[] | undefined;
    for (const sub of matched) {
      if (topic !== undefined && wildcardSkipsTopic(sub.filter, topic)) continue;
      if (sub.noLocal && publisher === clientId) continue;
      any = true;
      if (sub.qos > qos) qos = sub.qos;
      if (sub.retainAsPublished) asPublished = true;
      if (sub.id !== undefined) (ids ??= []).push(sub.id);
    }
    if (!any) return undefined;
    const published = publishedQos(message);
    return {
      qos: published < qos ? published : qos,
      retain:
        headerFlag(message, HEADER_RETAINED_COPY) || (asPublished && headerFlag(message, HEADER_RETAIN)),
      subscriptionIds: ids,
    };
  }

  /** Consecutive messages usually share a topic: the last match is kept. */
  private matching(routingKey: string): Subscription[] {
    if (routingKey !== this.lastKey) {
      this.lastMatch = [...this.matcher.match(routingKey)];
      this.lastKey = routingKey;
    }
    return this.lastMatch;
  }
}
