import { accessRefused, notFound } from './errors.js';
import type { Destination, Exchange } from './exchange.js';
import type { Message } from './message.js';
import type { Queue } from './queue.js';

/** What routing reads of a vhost: its exchanges and queues by name, and the effective exchange arguments. */
export interface RoutingTables {
  readonly vhost: string;
  readonly exchanges: ReadonlyMap<string, Exchange>;
  readonly queues: ReadonlyMap<string, Queue>;
  /** Exchange arguments with policies applied (alternate-exchange); absent = as declared. */
  effectiveExchangeArguments?(
    vhost: string,
    exchange: string,
    args: Exchange['arguments'],
  ): Exchange['arguments'];
}

/**
 * Routing in a vhost: from an exchange (or the default exchange) and a message's routing keys to the queues
 * it reaches, through exchange-to-exchange bindings and alternate exchanges; and delivery of one message to
 * every queue it reached with one combined "stored" callback.
 */
export class Router {
  constructor(private readonly tables: RoutingTables) {}

  /** The routing key plus sender-selected CC/BCC keys. */
  keysOf(message: Message): string[] {
    const extra = message.hasHeaders ? senderSelectedKeys(message) : undefined;
    return extra ? [message.routingKey, ...extra] : [message.routingKey];
  }

  /** The queues a message published to `exchangeName` reaches; 404 if the exchange is missing, 403 if internal. */
  route(exchangeName: string, message: Message): Queue[] {
    const keys = this.keysOf(message);
    if (exchangeName === '') return this.defaultExchangeTargets(keys);
    return this.routeKeys(this.routableExchange(exchangeName), message, keys);
  }

  /** The default exchange: each key names a queue. */
  defaultExchangeTargets(keys: string[]): Queue[] {
    if (keys.length === 1) {
      const q = this.tables.queues.get(keys[0]);
      return q ? [q] : [];
    }
    const out = new Set<Queue>();
    for (const key of keys) {
      const q = this.tables.queues.get(key);
      if (q) out.add(q);
    }
    return [...out];
  }

  routableExchange(exchangeName: string): Exchange {
    const ex = this.tables.exchanges.get(exchangeName);
    const vhost = this.tables.vhost;
    if (!ex) throw notFound(`no exchange '${exchangeName}' in vhost '${vhost}'`);
    if (ex.internal)
      throw accessRefused(`cannot publish to internal exchange '${exchangeName}' in vhost '${vhost}'`);
    return ex;
  }

  /**
   * Routes through `ex` and the exchanges bound to it (each visited once, so cycles end); when nothing
   * matched, through the alternate-exchange chain.
   */
  routeKeys(ex: Exchange, message: Message, keys: string[]): Queue[] {
    const visited = new Set<Exchange>();
    let current: Exchange | undefined = ex;
    while (current && !visited.has(current)) {
      const found = new Set<Destination>();
      for (const key of keys) current.route(message, key, found);
      visited.add(current);
      const queues: Queue[] = [];
      for (const d of found) {
        if (d.kind !== 'exchange') queues.push(d);
        else if (!visited.has(d)) {
          visited.add(d);
          for (const key of keys) d.route(message, key, found);
        }
      }
      if (queues.length > 0) return queues;
      const alternate = this.alternateExchangeOf(current);
      current = alternate === undefined ? undefined : this.tables.exchanges.get(alternate);
    }
    return [];
  }

  /** Enqueues into every target; `onStored` once all copies are stored (nack-worthy error if any failed). */
  enqueueAll(targets: Queue[], message: Message, onStored?: (err: Error | null) => void): number {
    // Sender-selected distribution: BCC routes but must not reach the consumers.
    if (targets.length > 0 && message.hasHeaders && message.headers?.BCC !== undefined) {
      message = message.withoutHeader('BCC');
    }
    if (targets.length === 0) {
      onStored?.(null);
      return 0;
    }
    if (!onStored) {
      for (const q of targets) q.enqueue(message);
      return targets.length;
    }
    if (targets.length === 1) {
      targets[0].enqueue(message, onStored);
      return 1;
    }
    let waiting = targets.length;
    let failed: Error | null = null;
    const done = (err: Error | null) => {
      if (err) failed = err;
      if (--waiting === 0) onStored(failed);
    };
    for (const q of targets) q.enqueue(message, done);
    return targets.length;
  }

  private alternateExchangeOf(ex: Exchange): string | undefined {
    const args =
      this.tables.effectiveExchangeArguments?.(this.tables.vhost, ex.name, ex.arguments) ?? ex.arguments;
    const ae = args['alternate-exchange'];
    return typeof ae === 'string' ? ae : Buffer.isBuffer(ae) ? ae.toString('utf8') : undefined;
  }
}

/** RabbitMQ's sender-selected distribution: CC and BCC headers (arrays of strings) add routing keys. */
function senderSelectedKeys(message: Message): string[] | undefined {
  const headers = message.headers;
  if (!headers) return undefined;
  let keys: string[] | undefined;
  for (const name of ['CC', 'BCC']) {
    const list = headers[name];
    if (!Array.isArray(list)) continue;
    for (const k of list) {
      const key = typeof k === 'string' ? k : Buffer.isBuffer(k) ? k.toString('utf8') : undefined;
      if (key !== undefined) (keys ??= []).push(key);
    }
  }
  return keys;
}
