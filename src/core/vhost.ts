import { randomBytes } from 'node:crypto';
import { decodeFieldTable, encodeFieldTable, type FieldTable } from '../codec/field-table.js';
import type { MetadataStore } from '../store/metadata-store.js';
import type { QueueStore } from '../store/queue-store.js';
import { accessRefused, commandInvalid, notFound, preconditionFailed, resourceLocked } from './errors.js';
import { type Binding, type Destination, Exchange, type ExchangeType, isExchangeType } from './exchange.js';
import { fieldTableKey } from './field-table-key.js';
import type { Message } from './message.js';
import { Queue, type QueueOptions } from './queue.js';
import { checkQueueArgumentsEquivalent, parseQueueArguments } from './queue-arguments.js';

/** What a vhost needs from the broker around it. */
export interface VHostContext {
  meta: MetadataStore;
  openQueueStore(id: string, durable: boolean): Promise<QueueStore>;
  queueOptions: QueueOptions;
  onQueueStoreError(queue: Queue, err: Error): void;
}

export interface ExchangeDeclare {
  passive?: boolean;
  durable?: boolean;
  autoDelete?: boolean;
  internal?: boolean;
  arguments?: FieldTable;
}

export interface QueueDeclare {
  passive?: boolean;
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  arguments?: FieldTable;
  /** The declaring connection; owns the queue when exclusive and is checked against exclusive queues. */
  owner: object;
}

export interface QueueDeclareResult {
  queue: Queue;
  messageCount: number;
  consumerCount: number;
}

interface StoredExchange {
  type: ExchangeType;
  durable: true;
  autoDelete: boolean;
  internal: boolean;
  arguments: string;
}
interface StoredQueue {
  id: string;
  autoDelete: boolean;
  arguments: string;
}
interface StoredBinding {
  source: string;
  destinationKind: 'queue' | 'exchange';
  destination: string;
  routingKey: string;
  arguments: string;
}

const builtinExchanges: Array<[string, ExchangeType]> = [
  ['amq.direct', 'direct'],
  ['amq.fanout', 'fanout'],
  ['amq.topic', 'topic'],
  ['amq.headers', 'headers'],
  ['amq.match', 'headers'],
];

const encodeArgs = (args: FieldTable) => encodeFieldTable(args).toString('base64');
const decodeArgs = (s: string): FieldTable => decodeFieldTable(Buffer.from(s, 'base64'), 0).table;

/** A namespace (AMQP virtual host): its exchanges, queues and bindings, and the rules for changing them. */
export class VHost {
  private readonly exchanges = new Map<string, Exchange>();
  private readonly queues = new Map<string, Queue>();
  /** Declares in progress, so two channels declaring one name share the work. */
  private readonly pendingQueues = new Map<string, Promise<Queue>>();
  private readonly metaPrefix: string;

  constructor(
    readonly name: string,
    private readonly ctx: VHostContext,
  ) {
    this.metaPrefix = `${name}\u0000`;
    for (const [exName, type] of builtinExchanges) {
      this.exchanges.set(
        exName,
        new Exchange({
          name: exName,
          vhost: name,
          type,
          durable: true,
          autoDelete: false,
          internal: false,
          arguments: {},
        }),
      );
    }
  }

  // ---- lookup ----------------------------------------------------------------------------------------------

  findExchange(name: string): Exchange | undefined {
    return this.exchanges.get(name);
  }

  getExchange(name: string): Exchange {
    const ex = this.exchanges.get(name);
    if (!ex) throw notFound(`no exchange '${name}' in vhost '${this.name}'`);
    return ex;
  }

  findQueue(name: string): Queue | undefined {
    return this.queues.get(name);
  }

  /** A queue the caller may use: 404 if missing, 405 if another connection holds it exclusively. */
  getQueue(name: string, owner: object): Queue {
    const q = this.queues.get(name);
    if (!q) throw notFound(`no queue '${name}' in vhost '${this.name}'`);
    this.checkExclusive(q, owner);
    return q;
  }

  get queueCount(): number {
    return this.queues.size;
  }

  allQueues(): IterableIterator<Queue> {
    return this.queues.values();
  }

  // ---- exchanges -------------------------------------------------------------------------------------------

  async declareExchange(name: string, type: string, opts: ExchangeDeclare): Promise<Exchange> {
    // Even a passive declare of the nameless default exchange is refused (RabbitMQ 3.10 behaviour).
    if (name === '') throw accessRefused(`operation not permitted on the default exchange`);
    if (opts.passive) return this.getExchange(name);
    if (name.startsWith('amq.'))
      throw accessRefused(`exchange name '${name}' contains reserved prefix 'amq.*'`);
    if (!isExchangeType(type)) {
      // Newer RabbitMQ answers 406 on the channel; 3.10's connection-level 503 was a bug the clients' suites flag.
      throw preconditionFailed(`invalid type '${type}' for exchange '${name}' in vhost '${this.name}'`);
    }
    const durable = opts.durable ?? false;
    const autoDelete = opts.autoDelete ?? false;
    const internal = opts.internal ?? false;
    const existing = this.exchanges.get(name);
    if (existing) {
      const describe = `exchange '${name}' in vhost '${this.name}'`;
      const mismatch = (what: string, got: unknown, current: unknown) =>
        preconditionFailed(
          `inequivalent arg '${what}' for ${describe}: received '${got}' but current is '${current}'`,
        );
      if (existing.type !== type) throw mismatch('type', type, existing.type);
      if (existing.durable !== durable) throw mismatch('durable', durable, existing.durable);
      if (existing.autoDelete !== autoDelete) throw mismatch('auto_delete', autoDelete, existing.autoDelete);
      if (existing.internal !== internal) throw mismatch('internal', internal, existing.internal);
      return existing;
    }
    const args = opts.arguments ?? {};
    const ex = new Exchange({ name, vhost: this.name, type, durable, autoDelete, internal, arguments: args });
    this.exchanges.set(name, ex);
    if (durable) {
      const stored: StoredExchange = {
        type,
        durable: true,
        autoDelete,
        internal,
        arguments: encodeArgs(args),
      };
      await this.ctx.meta.put(this.key('exchange', name), stored);
    }
    return ex;
  }

  async deleteExchange(name: string, ifUnused: boolean): Promise<void> {
    if (name === '' || name.startsWith('amq.')) {
      throw accessRefused(
        `operation not permitted on ${name === '' ? 'the default exchange' : `exchange '${name}'`}`,
      );
    }
    const ex = this.exchanges.get(name);
    if (!ex) return; // RabbitMQ 3.x answers delete-ok for a missing exchange.
    if (ifUnused && ex.hasBindings)
      throw preconditionFailed(`exchange '${name}' in vhost '${this.name}' in use`);
    await this.removeExchange(ex);
  }

  // ---- queues ----------------------------------------------------------------------------------------------

  async declareQueue(requestedName: string, opts: QueueDeclare): Promise<QueueDeclareResult> {
    if (opts.passive) {
      const q = this.getQueue(requestedName, opts.owner);
      q.touchIdle();
      return { queue: q, messageCount: q.messageCount, consumerCount: q.consumerCount };
    }
    const name = requestedName === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : requestedName;
    if (requestedName.startsWith('amq.')) {
      throw accessRefused(`queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    const durable = opts.durable ?? false;
    const exclusive = opts.exclusive ?? false;
    const autoDelete = opts.autoDelete ?? false;
    const args = opts.arguments ?? {};
    const describe = `queue '${name}' in vhost '${this.name}'`;
    const pending = this.pendingQueues.get(name);
    if (pending) await pending.catch(() => undefined);
    const existing = this.queues.get(name);
    if (existing) {
      this.checkExclusive(existing, opts.owner);
      const mismatch = (what: string, got: boolean, current: boolean) =>
        preconditionFailed(
          `inequivalent arg '${what}' for ${describe}: received '${got}' but current is '${current}'`,
        );
      if (existing.durable !== durable) throw mismatch('durable', durable, existing.durable);
      if ((existing.exclusiveOwner !== null) !== exclusive) {
        throw resourceLocked(
          `cannot obtain exclusive access to locked ${existing.describe}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
        );
      }
      if (existing.autoDelete !== autoDelete) throw mismatch('auto_delete', autoDelete, existing.autoDelete);
      checkQueueArgumentsEquivalent(existing.arguments, args, describe);
      existing.touchIdle();
      return { queue: existing, messageCount: existing.messageCount, consumerCount: existing.consumerCount };
    }
    const settings = parseQueueArguments(args, describe);
    const creation = this.createQueue({
      id: newQueueId(),
      name,
      durable,
      autoDelete,
      arguments: args,
      exclusiveOwner: exclusive ? opts.owner : null,
      settings,
    });
    this.pendingQueues.set(name, creation);
    try {
      const queue = await creation;
      return { queue, messageCount: 0, consumerCount: 0 };
    } finally {
      this.pendingQueues.delete(name);
    }
  }

  async deleteQueue(
    name: string,
    opts: { ifUnused?: boolean; ifEmpty?: boolean; owner: object },
  ): Promise<number> {
    const q = this.queues.get(name);
    if (!q) return 0; // RabbitMQ 3.x: deleting a missing queue is not an error.
    this.checkExclusive(q, opts.owner);
    if (opts.ifUnused && q.consumerCount > 0) throw preconditionFailed(`${q.describe} in use`);
    if (opts.ifEmpty && q.messageCount > 0) throw preconditionFailed(`${q.describe} not empty`);
    return this.removeQueue(q);
  }

  purgeQueue(name: string, owner: object): number {
    return this.getQueue(name, owner).purge();
  }

  /** A connection closed: its exclusive queues go with it. */
  async releaseOwner(owner: object): Promise<void> {
    const mine = [...this.queues.values()].filter((q) => q.exclusiveOwner === owner);
    await Promise.all(mine.map((q) => this.removeQueue(q)));
  }

  // ---- bindings --------------------------------------------------------------------------------------------

  async bindQueue(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    args: FieldTable,
    owner: object,
  ) {
    if (exchangeName === '') throw accessRefused(`operation not permitted on the default exchange`);
    const queue = this.getQueue(queueName, owner);
    const source = this.getExchange(exchangeName);
    await this.addBinding(source, queue, routingKey, args);
  }

  async unbindQueue(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    args: FieldTable,
    owner: object,
  ) {
    if (exchangeName === '') throw accessRefused(`operation not permitted on the default exchange`);
    const queue = this.getQueue(queueName, owner);
    const source = this.getExchange(exchangeName);
    await this.removeBinding(source, queue, routingKey, args);
  }

  async bindExchange(destinationName: string, sourceName: string, routingKey: string, args: FieldTable) {
    if (destinationName === '' || sourceName === '') {
      throw accessRefused(`operation not permitted on the default exchange`);
    }
    const destination = this.getExchange(destinationName);
    const source = this.getExchange(sourceName);
    await this.addBinding(source, destination, routingKey, args);
  }

  async unbindExchange(destinationName: string, sourceName: string, routingKey: string, args: FieldTable) {
    if (destinationName === '' || sourceName === '') {
      throw accessRefused(`operation not permitted on the default exchange`);
    }
    const destination = this.getExchange(destinationName);
    const source = this.getExchange(sourceName);
    await this.removeBinding(source, destination, routingKey, args);
  }

  // ---- publish ---------------------------------------------------------------------------------------------

  /**
   * Routes and enqueues a message. Returns the queues it reached (0 means unroutable). `onStored` fires once
   * every copy is stored as durably as its queue requires, possibly synchronously.
   */
  publish(exchangeName: string, message: Message, onStored?: (err: Error | null) => void): number {
    const targets = this.route(exchangeName, message);
    // Sender-selected distribution: BCC routes but must not reach the consumers.
    if (targets.length > 0 && message.hasHeaders && message.headers?.BCC !== undefined)
      message = message.withoutHeader('BCC');
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

  /** The queues a message published to `exchangeName` reaches; 404 if the exchange is missing, 403 if internal. */
  route(exchangeName: string, message: Message): Queue[] {
    const keys = message.hasHeaders ? senderSelectedKeys(message) : undefined;
    if (exchangeName === '') {
      if (!keys) {
        const q = this.queues.get(message.routingKey);
        return q ? [q] : [];
      }
      const out = new Set<Queue>();
      for (const key of [message.routingKey, ...keys]) {
        const q = this.queues.get(key);
        if (q) out.add(q);
      }
      return [...out];
    }
    const ex = this.exchanges.get(exchangeName);
    if (!ex) throw notFound(`no exchange '${exchangeName}' in vhost '${this.name}'`);
    if (ex.internal)
      throw accessRefused(`cannot publish to internal exchange '${exchangeName}' in vhost '${this.name}'`);
    const found = new Set<Destination>();
    ex.route(message, message.routingKey, found);
    if (keys) for (const key of keys) ex.route(message, key, found);
    const queues: Queue[] = [];
    // Exchange-to-exchange bindings: follow each exchange once, so cycles terminate.
    const visited = new Set<Exchange>([ex]);
    for (const d of found) {
      if (d instanceof Queue) queues.push(d);
      else if (!visited.has(d)) {
        visited.add(d);
        d.route(message, message.routingKey, found);
        if (keys) for (const key of keys) d.route(message, key, found);
      }
    }
    return queues;
  }

  // ---- recovery and shutdown -------------------------------------------------------------------------------

  /** Restores durable definitions and queue contents after a restart. */
  async recover(): Promise<void> {
    const meta = this.ctx.meta;
    for (const [key, value] of meta.entries(`exchange\u0000${this.metaPrefix}`)) {
      const name = key.slice(`exchange\u0000${this.metaPrefix}`.length);
      const s = value as StoredExchange;
      this.exchanges.set(
        name,
        new Exchange({
          name,
          vhost: this.name,
          type: s.type,
          durable: true,
          autoDelete: s.autoDelete,
          internal: s.internal,
          arguments: decodeArgs(s.arguments),
        }),
      );
    }
    for (const [key, value] of meta.entries(`queue\u0000${this.metaPrefix}`)) {
      const name = key.slice(`queue\u0000${this.metaPrefix}`.length);
      const s = value as StoredQueue;
      const args = decodeArgs(s.arguments);
      const describe = `queue '${name}' in vhost '${this.name}'`;
      const queue = await this.createQueue(
        {
          id: s.id,
          name,
          durable: true,
          autoDelete: s.autoDelete,
          arguments: args,
          exclusiveOwner: null,
          settings: parseQueueArguments(args, describe),
        },
        true,
      );
      await queue.recover();
    }
    for (const [key, value] of meta.entries(`binding\u0000${this.metaPrefix}`)) {
      const s = value as StoredBinding;
      const source = this.exchanges.get(s.source);
      const destination =
        s.destinationKind === 'queue' ? this.queues.get(s.destination) : this.exchanges.get(s.destination);
      if (!source || !destination) {
        await meta.delete(key); // A dangling binding from an interrupted delete.
        continue;
      }
      const args = decodeArgs(s.arguments);
      source.addBinding({
        source,
        destination,
        routingKey: s.routingKey,
        arguments: args,
        key: bindingKey(s.routingKey, args),
      });
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
  }

  // ---- internals -------------------------------------------------------------------------------------------

  private async createQueue(
    def: {
      id: string;
      name: string;
      durable: boolean;
      autoDelete: boolean;
      arguments: FieldTable;
      exclusiveOwner: object | null;
      settings: ReturnType<typeof parseQueueArguments>;
    },
    recovering = false,
  ): Promise<Queue> {
    const store = await this.ctx.openQueueStore(def.id, def.durable);
    const queue = new Queue({ ...def, vhost: this.name }, def.settings, store, this.ctx.queueOptions, {
      requestDelete: (q) => {
        if (this.queues.get(q.name) === q) void this.removeQueue(q);
      },
      onStoreError: (q, err) => this.ctx.onQueueStoreError(q, err),
    });
    this.queues.set(def.name, queue);
    if (def.durable && def.exclusiveOwner === null && !recovering) {
      const stored: StoredQueue = {
        id: def.id,
        autoDelete: def.autoDelete,
        arguments: encodeArgs(def.arguments),
      };
      await this.ctx.meta.put(this.key('queue', def.name), stored);
    }
    if (!recovering) queue.touchIdle();
    return queue;
  }

  private async removeQueue(q: Queue): Promise<number> {
    if (this.queues.get(q.name) !== q) return 0;
    this.queues.delete(q.name);
    const removed: Binding[] = [];
    for (const ex of this.exchanges.values()) removed.push(...ex.removeDestination(q));
    const { count, consumers } = await q.delete();
    if (q.durable) {
      await Promise.all(removed.map((b) => this.ctx.meta.delete(this.bindingMetaKey(b))));
      await this.ctx.meta.delete(this.key('queue', q.name));
    }
    await this.autoDeleteSources(removed);
    // After the caller's reply has gone out (it resolves in a microtask), tell the consumers.
    if (consumers.length > 0) setImmediate(() => consumers.forEach((c) => c.cancelledByQueue(q)));
    return count;
  }

  private async removeExchange(ex: Exchange): Promise<void> {
    if (this.exchanges.get(ex.name) !== ex) return;
    this.exchanges.delete(ex.name);
    const removed = ex.allBindings();
    for (const b of removed) ex.removeBinding(b.destination, b.key);
    // Bindings where this exchange is the destination go too.
    for (const other of this.exchanges.values()) removed.push(...other.removeDestination(ex));
    await Promise.all(
      removed
        .filter((b) => this.bindingIsDurable(b))
        .map((b) => this.ctx.meta.delete(this.bindingMetaKey(b))),
    );
    if (ex.durable) await this.ctx.meta.delete(this.key('exchange', ex.name));
    await this.autoDeleteSources(removed.filter((b) => b.source !== ex));
  }

  private async addBinding(source: Exchange, destination: Destination, routingKey: string, args: FieldTable) {
    if (source.type === 'headers' && args['x-match'] !== undefined) {
      const mode = args['x-match'];
      if (mode !== 'all' && mode !== 'any' && mode !== 'all-with-x' && mode !== 'any-with-x') {
        throw preconditionFailed(
          `Invalid x-match field value ${JSON.stringify(mode)}; expected all, any, all-with-x, or any-with-x`,
        );
      }
    }
    const binding: Binding = {
      source,
      destination,
      routingKey,
      arguments: args,
      key: bindingKey(routingKey, args),
    };
    if (!source.addBinding(binding)) return;
    if (this.bindingIsDurable(binding)) {
      const stored: StoredBinding = {
        source: source.name,
        destinationKind: destination instanceof Queue ? 'queue' : 'exchange',
        destination: destination.name,
        routingKey,
        arguments: encodeArgs(args),
      };
      await this.ctx.meta.put(this.bindingMetaKey(binding), stored);
    }
  }

  private async removeBinding(
    source: Exchange,
    destination: Destination,
    routingKey: string,
    args: FieldTable,
  ) {
    const removed = source.removeBinding(destination, bindingKey(routingKey, args));
    if (!removed) return; // RabbitMQ 3.x: unbinding a missing binding succeeds.
    if (this.bindingIsDurable(removed)) await this.ctx.meta.delete(this.bindingMetaKey(removed));
    await this.autoDeleteSources([removed]);
  }

  /** Auto-delete exchanges go once their last outgoing binding does. */
  private async autoDeleteSources(removed: Binding[]): Promise<void> {
    const sources = new Set(removed.map((b) => b.source));
    for (const ex of sources) {
      if (ex.autoDelete && !ex.hasBindings && this.exchanges.get(ex.name) === ex)
        await this.removeExchange(ex);
    }
  }

  /** A binding survives restarts when both ends do. */
  private bindingIsDurable(b: Binding): boolean {
    const d = b.destination;
    const destinationDurable = d instanceof Queue ? d.durable && d.exclusiveOwner === null : d.durable;
    return b.source.durable && destinationDurable;
  }

  private bindingMetaKey(b: Binding): string {
    const kind = b.destination instanceof Queue ? 'queue' : 'exchange';
    return `binding\u0000${this.metaPrefix}${b.source.name}\u0000${kind}\u0000${b.destination.name}\u0000${b.key}`;
  }

  private key(kind: 'exchange' | 'queue', name: string): string {
    return `${kind}\u0000${this.metaPrefix}${name}`;
  }

  private checkExclusive(q: Queue, owner: object): void {
    if (q.exclusiveOwner !== null && q.exclusiveOwner !== owner) {
      throw resourceLocked(
        `cannot obtain exclusive access to locked ${q.describe}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
      );
    }
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

function bindingKey(routingKey: string, args: FieldTable): string {
  return `${routingKey}\u0000${fieldTableKey(args)}`;
}

function newQueueId(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}
