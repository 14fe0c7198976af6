import type { FieldTable } from '../codec/field-table.js';
import type { DelayedMessages } from './delayed-messages.js';
import { headersMatch } from './headers-matcher.js';
import type { Message } from './message.js';
import type { Queue } from './queue.js';
import { TopicMatcher } from './topic-matcher.js';

/** How an exchange matches bindings. */
export const routingTypes = ['direct', 'fanout', 'topic', 'headers'] as const;
export type RoutingType = (typeof routingTypes)[number];

/** Declarable types: the routing types plus RabbitMQ's delayed-message exchange (routes by its x-delayed-type). */
export const exchangeTypes = [...routingTypes, 'x-delayed-message'] as const;
export type ExchangeType = (typeof exchangeTypes)[number];

export function isExchangeType(type: string): type is ExchangeType {
  return (exchangeTypes as readonly string[]).includes(type);
}

export function isRoutingType(type: unknown): type is RoutingType {
  return typeof type === 'string' && (routingTypes as readonly string[]).includes(type);
}

/**
 * What routing delivers to: a queue (classic or stream), or another exchange (RabbitMQ's exchange-to-exchange bindings). Told
 * apart by `kind`, so a new kind of destination (a stream) joins the union instead of new class checks.
 */
export type Destination = Queue | Exchange;

export interface Binding {
  source: Exchange;
  destination: Destination;
  routingKey: string;
  arguments: FieldTable;
  /** Identity of (routing key, arguments) so the same binding twice is one binding. */
  key: string;
}

export interface ExchangeDefinition {
  name: string;
  vhost: string;
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

/** An exchange routes a message to destinations; each type keeps the index that makes its match cheap. */
export class Exchange {
  readonly kind = 'exchange' as const;
  readonly name: string;
  readonly vhost: string;
  readonly type: ExchangeType;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly internal: boolean;
  readonly arguments: FieldTable;
  /** The matching rule: the type itself, or x-delayed-type for a delayed-message exchange. */
  readonly routingType: RoutingType;
  /** Messages held until due (delayed-message exchanges only). */
  delayed: DelayedMessages | undefined;

  /** All bindings from this exchange, by destination then binding key. */
  private readonly bindings = new Map<Destination, Map<string, Binding>>();
  private readonly direct = new Map<string, Set<Destination>>();
  private readonly topic = new TopicMatcher<Destination>();
  /** Topic trie holds (routing key -> destination) once even when bound with several argument sets. */
  private readonly topicRefs = new Map<string, number>();
  private bindingCount = 0;

  constructor(definition: ExchangeDefinition) {
    this.name = definition.name;
    this.vhost = definition.vhost;
    this.type = definition.type;
    this.durable = definition.durable;
    this.autoDelete = definition.autoDelete;
    this.internal = definition.internal;
    this.arguments = definition.arguments;
    const delayedType = definition.arguments['x-delayed-type'];
    this.routingType =
      definition.type === 'x-delayed-message'
        ? isRoutingType(delayedType)
          ? delayedType
          : 'direct'
        : definition.type;
  }

  get describe(): string {
    return `exchange '${this.name}' in vhost '${this.vhost}'`;
  }

  get hasBindings(): boolean {
    return this.bindingCount > 0;
  }

  allBindings(): Binding[] {
    const out: Binding[] = [];
    for (const byKey of this.bindings.values()) out.push(...byKey.values());
    return out;
  }

  /** Returns false when this exact binding already existed. */
  addBinding(binding: Binding): boolean {
    let byKey = this.bindings.get(binding.destination);
    if (!byKey) this.bindings.set(binding.destination, (byKey = new Map()));
    if (byKey.has(binding.key)) return false;
    byKey.set(binding.key, binding);
    this.bindingCount++;
    if (this.routingType === 'direct') {
      let set = this.direct.get(binding.routingKey);
      if (!set) this.direct.set(binding.routingKey, (set = new Set()));
      set.add(binding.destination);
    } else if (this.routingType === 'topic') {
      const ref = this.topicRef(binding);
      const n = this.topicRefs.get(ref) ?? 0;
      this.topicRefs.set(ref, n + 1);
      if (n === 0) this.topic.add(binding.routingKey, binding.destination);
    }
    return true;
  }

  removeBinding(destination: Destination, key: string): Binding | undefined {
    const byKey = this.bindings.get(destination);
    const binding = byKey?.get(key);
    if (!byKey || !binding) return undefined;
    byKey.delete(key);
    if (byKey.size === 0) this.bindings.delete(destination);
    this.bindingCount--;
    if (this.routingType === 'direct') {
      const stillBound = [...(byKey.values() ?? [])].some((b) => b.routingKey === binding.routingKey);
      if (!stillBound) {
        const set = this.direct.get(binding.routingKey);
        set?.delete(destination);
        if (set?.size === 0) this.direct.delete(binding.routingKey);
      }
    } else if (this.routingType === 'topic') {
      const ref = this.topicRef(binding);
      const n = (this.topicRefs.get(ref) ?? 1) - 1;
      if (n === 0) {
        this.topicRefs.delete(ref);
        this.topic.remove(binding.routingKey, destination);
      } else this.topicRefs.set(ref, n);
    }
    return binding;
  }

  /** Removes every binding to `destination` (it is being deleted). */
  removeDestination(destination: Destination): Binding[] {
    const byKey = this.bindings.get(destination);
    if (!byKey) return [];
    const removed = [...byKey.values()];
    for (const b of removed) this.removeBinding(destination, b.key);
    return removed;
  }

  /** The bindings from this exchange to `destination`. */
  bindingsTo(destination: Destination): Binding[] {
    const byKey = this.bindings.get(destination);
    return byKey === undefined ? [] : [...byKey.values()];
  }

  hasBinding(destination: Destination, key: string): boolean {
    return this.bindings.get(destination)?.has(key) ?? false;
  }

  /** Adds this exchange's destinations matching `routingKey` (and the message's headers) to `out`. */
  route(message: Message, routingKey: string, out: Set<Destination>): void {
    switch (this.routingType) {
      case 'direct': {
        const set = this.direct.get(routingKey);
        if (set) for (const d of set) out.add(d);
        return;
      }
      case 'fanout':
        for (const d of this.bindings.keys()) out.add(d);
        return;
      case 'topic':
        this.topic.match(routingKey, out);
        return;
      case 'headers': {
        const headers = message.headers;
        for (const [destination, byKey] of this.bindings) {
          for (const b of byKey.values()) {
            if (headersMatch(b.arguments, headers)) {
              out.add(destination);
              break;
            }
          }
        }
        return;
      }
    }
  }

  private topicRef(binding: Binding): string {
    // Destinations are objects; their identity within this exchange is enough via a per-destination id.
    return `${destinationId(binding.destination)}\u0000${binding.routingKey}`;
  }
}

const ids = new WeakMap<object, number>();
let nextId = 1;
function destinationId(d: object): number {
  let id = ids.get(d);
  if (id === undefined) ids.set(d, (id = nextId++));
  return id;
}
