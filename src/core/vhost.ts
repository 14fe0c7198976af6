import { randomBytes } from 'node:crypto';
import type { FieldTable, FieldValue } from '../codec/field-table.js';
import type { MetadataStore } from '../store/metadata-store.js';
import type { QueueStore } from '../store/queue-store.js';
import type { StreamStore } from '../store/stream-store.js';
import { access, type Resource, refuseDefaultExchange } from './authorization.js';
import { ClassicQueue, QueueFullError, type QueueMetadata, type QueueOptions } from './classic-queue.js';
import { routeDeadLetter } from './dead-letter-routing.js';
import { DelayedMessages } from './delayed-messages.js';
import { DirectReplyTo } from './direct-reply-to.js';
import { accessRefused, notFound, preconditionFailed, resourceLocked } from './errors.js';
import {
  type Binding,
  type Destination,
  Exchange,
  type ExchangeType,
  isExchangeType,
  isRoutingType,
} from './exchange.js';
import type { Message } from './message.js';
import { MessageLog } from './message-log.js';
import type { Queue } from './queue.js';
import { checkQueueArgumentsEquivalent, parseQueueArguments } from './queue-arguments.js';
import { restoreHolds, type SavedHolds, savedHoldsOf } from './queue-holds.js';
import { Router } from './router.js';
import { Stream } from './stream.js';
import {
  checkStreamArgumentsEquivalent,
  isStreamDeclare,
  parseStreamArguments,
  type StreamSettings,
  streamArgumentsWithPolicy,
} from './stream-arguments.js';
import type { Principal } from './users.js';
import {
  bindingKey,
  decodeArgs,
  encodeArgs,
  type StoredBinding,
  type StoredExchange,
  type StoredQueue,
  VHostDefinitions,
} from './vhost-definitions.js';
import { activeLimit, type VhostLimits } from './vhost-info.js';

export { directReplyQueue } from './direct-reply-to.js';

/** What a vhost needs from the broker around it. */
export interface VHostContext {
  meta: MetadataStore;
  openQueueStore(id: string, durable: boolean): Promise<QueueStore>;
  openStreamStore(id: string, segmentMaxBytes: number): Promise<StreamStore>;
  queueOptions: QueueOptions;
  onQueueStoreError(queue: Queue, err: Error): void;
  /** Queue arguments with the matching policy applied (RabbitMQ's precedence rules); absent = arguments as given. */
  effectiveQueueArguments?(vhost: string, queue: string, args: FieldTable): FieldTable;
  /** Exchange arguments with the matching policy applied (alternate-exchange). */
  effectiveExchangeArguments?(vhost: string, exchange: string, args: FieldTable): FieldTable;
  onDelayedStoreError?(exchange: Exchange, err: Error): void;
  /** The vhost's limits (max-queues), current at the time of the call; absent = none. */
  limits?(): VhostLimits;
}

export interface ExchangeDeclare {
  passive?: boolean;
  durable?: boolean;
  autoDelete?: boolean;
  internal?: boolean;
  arguments?: FieldTable;
  /** The client's user: permissions are checked at RabbitMQ's points. Absent for the broker's own callers. */
  principal?: Principal;
}

export interface QueueDeclare {
  passive?: boolean;
  durable?: boolean;
  exclusive?: boolean;
  autoDelete?: boolean;
  arguments?: FieldTable;
  /** The declaring connection; owns the queue when exclusive and is checked against exclusive queues. */
  owner: object;
  /** User-defined attributes of a classic queue this declare creates (an existing queue keeps its own). */
  metadata?: QueueMetadata;
  /** The client's user: permissions are checked at RabbitMQ's points. Absent for the broker's own callers. */
  principal?: Principal;
}

export interface QueueDeclareResult {
  queue: Queue;
  messageCount: number;
  consumerCount: number;
}

/** The exchanges every vhost has from its creation on. */
export const builtinExchanges: ReadonlyArray<[string, ExchangeType]> = [
  ['amq.direct', 'direct'],
  ['amq.fanout', 'fanout'],
  ['amq.topic', 'topic'],
  ['amq.headers', 'headers'],
  ['amq.match', 'headers'],
];

const ignore = (): void => {};

/** A namespace (AMQP virtual host): its exchanges, queues and bindings, and the rules for changing them. */
export class VHost {
  private readonly exchanges = new Map<string, Exchange>();
  private readonly queues = new Map<string, Queue>();
  /**
   * Declares in progress: a second declare of the same name waits for the first and then sees its outcome (a
   * queue, exchange or binding is registered only once its definition is durable). Waiters re-check in a loop
   * with nothing async between the last check and their own start: another waiter may have gone first.
   */
  private readonly pendingQueues = new Map<string, Promise<Queue>>();
  private readonly pendingExchanges = new Map<string, Promise<Exchange>>();
  private readonly pendingBindings = new Map<string, Promise<void>>();
  private readonly definitions: VHostDefinitions;
  private readonly router: Router;
  private readonly directReplies = new DirectReplyTo();

  constructor(
    readonly name: string,
    private readonly ctx: VHostContext,
  ) {
    this.definitions = new VHostDefinitions(ctx.meta, name);
    this.router = new Router({
      vhost: name,
      exchanges: this.exchanges,
      queues: this.queues,
      effectiveExchangeArguments: ctx.effectiveExchangeArguments?.bind(ctx),
    });
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

  /** Every exchange, the built-in amq.* ones included (definitions export). */
  allExchanges(): IterableIterator<Exchange> {
    return this.exchanges.values();
  }

  /** A policy of this vhost changed: recompute every live queue's settings from its arguments and policy. */
  reapplyPolicies(): void {
    for (const q of this.queues.values()) {
      const args = this.ctx.effectiveQueueArguments?.(this.name, q.name, q.arguments) ?? q.arguments;
      try {
        if (q.kind === 'stream') {
          q.applySettings(parseStreamArguments(streamArgumentsWithPolicy(q.arguments, args), q.describe));
        } else q.applySettings(parseQueueArguments(args, q.describe));
      } catch {
        // Arguments and policy values are each validated; a combination the parser refuses keeps the old settings.
      }
    }
  }

  // ---- exchanges -------------------------------------------------------------------------------------------

  /**
   * RabbitMQ's order: the type, the default exchange, configure permission; then an existing exchange must be
   * equivalent, and a new one must not be named amq.* and needs the alternate exchange's permissions.
   */
  async declareExchange(name: string, type: string, opts: ExchangeDeclare): Promise<Exchange> {
    if (opts.passive) {
      // Even a passive declare of the nameless default exchange is refused (RabbitMQ 3.10 behaviour).
      refuseDefaultExchange(name);
      return this.getExchange(name);
    }
    if (!isExchangeType(type)) {
      // Newer RabbitMQ answers 406 on the channel; 3.10's connection-level 503 was a bug the clients' suites flag.
      throw preconditionFailed(`invalid type '${type}' for exchange '${name}' in vhost '${this.name}'`);
    }
    refuseDefaultExchange(name);
    if (opts.principal) access.declareExchange(opts.principal, this.name, name);
    const durable = opts.durable ?? false;
    const autoDelete = opts.autoDelete ?? false;
    const internal = opts.internal ?? false;
    for (let p = this.pendingExchanges.get(name); p; p = this.pendingExchanges.get(name))
      await p.catch(ignore);
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
    if (name.startsWith('amq.'))
      throw accessRefused(`exchange name '${name}' contains reserved prefix 'amq.*'`);
    const args = opts.arguments ?? {};
    if (opts.principal)
      access.createExchange(opts.principal, this.name, name, textValue(args['alternate-exchange']));
    if (type === 'x-delayed-message' && !isRoutingType(textValue(args['x-delayed-type']))) {
      throw preconditionFailed(`Invalid argument, 'x-delayed-type' must be an existing exchange type`);
    }
    const normalizedArgs =
      type === 'x-delayed-message' ? { ...args, 'x-delayed-type': textValue(args['x-delayed-type']) } : args;
    const ex = new Exchange({
      name,
      vhost: this.name,
      type,
      durable,
      autoDelete,
      internal,
      arguments: normalizedArgs,
    });
    const id = type === 'x-delayed-message' ? newQueueId() : undefined;
    const creation = (async () => {
      if (id !== undefined) await this.openDelayed(ex, id);
      if (durable) {
        const stored: StoredExchange = {
          type,
          durable: true,
          autoDelete,
          internal,
          arguments: encodeArgs(normalizedArgs),
          ...(id === undefined ? {} : { id }),
        };
        try {
          await this.ctx.meta.put(this.key('exchange', name), stored);
        } catch (err) {
          await ex.delayed?.destroy().catch(ignore);
          ex.delayed = undefined;
          throw err;
        }
      }
      this.exchanges.set(name, ex);
      return ex;
    })();
    this.pendingExchanges.set(name, creation);
    try {
      return await creation;
    } finally {
      this.pendingExchanges.delete(name);
    }
  }

  async deleteExchange(name: string, ifUnused: boolean, principal?: Principal): Promise<void> {
    refuseDefaultExchange(name);
    if (name.startsWith('amq.'))
      throw accessRefused(`deletion of system exchange '${name}' in vhost '${this.name}' not allowed`);
    if (principal) access.deleteExchange(principal, this.name, name);
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
      return declared(q);
    }
    const args = opts.arguments ?? {};
    if (requestedName === '' && isStreamDeclare(args)) {
      throw preconditionFailed('Cannot declare a server-named queue for type rabbit_stream_queue');
    }
    // RabbitMQ's order: the name (a server-generated one too), configure permission; then an existing queue
    // must be equivalent, while a new one counts against the vhost's queue limit and needs the dead-letter
    // exchange's permissions.
    const name = requestedName === '' ? `amq.gen-${randomBytes(16).toString('base64url')}` : requestedName;
    if (requestedName.startsWith('amq.')) {
      throw accessRefused(`queue name '${name}' contains reserved prefix 'amq.*'`);
    }
    if (opts.principal) access.declareQueue(opts.principal, this.name, name);
    const durable = opts.durable ?? false;
    const exclusive = opts.exclusive ?? false;
    const autoDelete = opts.autoDelete ?? false;
    const describe = `queue '${name}' in vhost '${this.name}'`;
    for (let p = this.pendingQueues.get(name); p; p = this.pendingQueues.get(name)) await p.catch(ignore);
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
      if (existing.kind === 'stream') checkStreamArgumentsEquivalent(existing.arguments, args, describe);
      else checkQueueArgumentsEquivalent(existing.arguments, args, describe);
      existing.touchIdle();
      return declared(existing);
    }
    this.checkQueueLimit(name);
    if (opts.principal)
      access.createQueue(opts.principal, this.name, name, textValue(args['x-dead-letter-exchange']));
    const effective = this.ctx.effectiveQueueArguments?.(this.name, name, args) ?? args;
    if (isStreamDeclare(args)) {
      checkReplicatedProperties(durable, exclusive, autoDelete, describe);
      return this.awaitCreation(
        name,
        this.createStream(
          { id: newQueueId(), name, arguments: args },
          parseStreamArguments(streamArgumentsWithPolicy(args, effective), describe),
        ),
      );
    }
    const settings = parseQueueArguments(effective, describe);
    if (settings.queueType === 'quorum') {
      checkReplicatedProperties(durable, exclusive, autoDelete, describe);
    }
    const creation = this.createQueue({
      id: newQueueId(),
      name,
      durable,
      autoDelete,
      arguments: args,
      exclusiveOwner: exclusive ? opts.owner : null,
      settings,
      metadata: opts.metadata,
    });
    return this.awaitCreation(name, creation);
  }

  /** RabbitMQ's max-queues: declares in progress count, so concurrent ones cannot overshoot. */
  private checkQueueLimit(name: string): void {
    const max = activeLimit(this.ctx.limits?.()['max-queues']);
    if (max !== undefined && this.queues.size + this.pendingQueues.size >= max) {
      throw preconditionFailed(
        `cannot declare queue '${name}': queue limit in vhost '${this.name}' (${max}) is reached`,
      );
    }
  }

  /** Registers a declare in progress, so a second declare of the name waits for it, and awaits it. */
  private async awaitCreation(name: string, creation: Promise<Queue>): Promise<QueueDeclareResult> {
    this.pendingQueues.set(name, creation);
    try {
      return { queue: await creation, messageCount: 0, consumerCount: 0 };
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
    if (q.kind === 'stream') {
      // RabbitMQ ignores if-unused and if-empty for streams; an append-only stream keeps its audit trail.
      if (q.settings.appendOnly && q.messageCount > 0) {
        throw preconditionFailed(`${q.describe} is append-only (x-stream-append-only) and holds messages`);
      }
      return this.removeQueue(q);
    }
    if (opts.ifUnused && q.consumerCount > 0) throw preconditionFailed(`${q.describe} in use`);
    if (opts.ifEmpty && q.messageCount > 0) throw preconditionFailed(`${q.describe} not empty`);
    return this.removeQueue(q);
  }

  /** Replaces a classic queue's user-defined attributes; durable ones are stored with its definition. */
  async setQueueMetadata(queue: ClassicQueue, metadata: QueueMetadata): Promise<void> {
    if (this.queues.get(queue.name) !== queue) throw notFound(`no ${queue.describe}`);
    if (queue.durable && queue.exclusiveOwner === null) {
      await this.ctx.meta.put(this.key('queue', queue.name), storedQueue(queue, metadata));
    }
    queue.metadata = metadata;
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
    principal?: Principal,
  ) {
    const { source, queue } = this.queueBindingEnds(queueName, exchangeName, routingKey, owner, principal);
    await this.addBinding(source, queue, routingKey, args);
  }

  async unbindQueue(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    args: FieldTable,
    owner: object,
    principal?: Principal,
  ) {
    const { source, queue } = this.queueBindingEnds(queueName, exchangeName, routingKey, owner, principal);
    await this.removeBinding(source, queue, routingKey, args);
  }

  async bindExchange(
    destinationName: string,
    sourceName: string,
    routingKey: string,
    args: FieldTable,
    principal?: Principal,
  ) {
    const ends = this.exchangeBindingEnds(destinationName, sourceName, routingKey, principal);
    await this.addBinding(ends.source, ends.destination, routingKey, args);
  }

  async unbindExchange(
    destinationName: string,
    sourceName: string,
    routingKey: string,
    args: FieldTable,
    principal?: Principal,
  ) {
    const ends = this.exchangeBindingEnds(destinationName, sourceName, routingKey, principal);
    await this.removeBinding(ends.source, ends.destination, routingKey, args);
  }

  private queueBindingEnds(
    queueName: string,
    exchangeName: string,
    routingKey: string,
    owner: object,
    principal: Principal | undefined,
  ): { source: Exchange; queue: Queue } {
    this.checkBind({ kind: 'queue', vhost: this.name, name: queueName }, exchangeName, routingKey, principal);
    return { queue: this.getQueue(queueName, owner), source: this.getExchange(exchangeName) };
  }

  private exchangeBindingEnds(
    destinationName: string,
    sourceName: string,
    routingKey: string,
    principal: Principal | undefined,
  ): { source: Exchange; destination: Exchange } {
    const destination = { kind: 'exchange' as const, vhost: this.name, name: destinationName };
    this.checkBind(destination, sourceName, routingKey, principal);
    return { destination: this.getExchange(destinationName), source: this.getExchange(sourceName) };
  }

  /** Before either end is looked up: the default exchange is refused, and a client's permissions checked. */
  private checkBind(destination: Resource, source: string, key: string, principal?: Principal): void {
    if (principal) access.bind(principal, this.name, destination, source, this.exchanges.get(source), key);
    else refuseDefaultExchange(source, destination.kind === 'exchange' ? destination.name : source);
  }

  // ---- publish ---------------------------------------------------------------------------------------------

  /**
   * Routes and enqueues a message. Returns the queues it reached (0 means unroutable). `onStored` fires once
   * every copy is stored as durably as its queue requires, possibly synchronously.
   */
  publish(exchangeName: string, message: Message, onStored?: (err: Error | null) => void): number {
    if (this.directReplies.isReply(exchangeName, message.routingKey)) {
      onStored?.(null);
      return this.directReplies.deliver(message) ? 1 : 0;
    }
    const delayed = exchangeName === '' ? undefined : this.exchanges.get(exchangeName)?.delayed;
    if (delayed) {
      const delay = delayOf(message);
      if (delay > 0) {
        this.router.routableExchange(exchangeName); // an internal exchange refuses client publishes (403)
        delayed.schedule(message, Date.now() + delay, onStored);
        return 1;
      }
    }
    return this.router.enqueueAll(this.router.route(exchangeName, message), message, onStored);
  }

  /** The queues a message published to `exchangeName` reaches; 404 if the exchange is missing, 403 if internal. */
  route(exchangeName: string, message: Message): Queue[] {
    return this.router.route(exchangeName, message);
  }

  // ---- direct reply-to -------------------------------------------------------------------------------------

  /** Registers an RPC caller's reply consumer; returns the token that goes into reply_to. */
  registerDirectReply(deliver: (message: Message) => void): string {
    return this.directReplies.register(deliver);
  }

  unregisterDirectReply(token: string): void {
    this.directReplies.unregister(token);
  }

  // ---- recovery and shutdown -------------------------------------------------------------------------------

  /** Restores durable definitions and queue contents after a restart. */
  async recover(): Promise<void> {
    // Delayed messages that came due while the broker was down fire as soon as their store opens: only once
    // queues and bindings are back, or they would be routed nowhere.
    const delayedToOpen: Array<[Exchange, string]> = [];
    for (const [name, s] of this.definitions.exchanges()) {
      const ex = new Exchange({
        name,
        vhost: this.name,
        type: s.type,
        durable: true,
        autoDelete: s.autoDelete,
        internal: s.internal,
        arguments: decodeArgs(s.arguments),
      });
      this.exchanges.set(name, ex);
      if (s.id !== undefined) delayedToOpen.push([ex, s.id]);
    }
    for (const [name, s] of this.definitions.queues()) {
      const args = decodeArgs(s.arguments);
      const describe = `queue '${name}' in vhost '${this.name}'`;
      if (isStreamDeclare(args)) {
        const effective = this.ctx.effectiveQueueArguments?.(this.name, name, args) ?? args;
        await this.createStream(
          { id: s.id, name, arguments: args },
          parseStreamArguments(streamArgumentsWithPolicy(args, effective), describe),
          true,
        );
        continue;
      }
      const queue = await this.createQueue(
        {
          id: s.id,
          name,
          durable: true,
          autoDelete: s.autoDelete,
          arguments: args,
          exclusiveOwner: null,
          metadata: s.metadata,
          settings: parseQueueArguments(
            this.ctx.effectiveQueueArguments?.(this.name, name, args) ?? args,
            describe,
          ),
        },
        true,
      );
      await queue.recover();
      const holdsKey = this.definitions.holdsKey(s.id);
      const holds = this.ctx.meta.get(holdsKey) as SavedHolds | undefined;
      if (holds !== undefined) {
        restoreHolds(queue, holds);
        await this.ctx.meta.delete(holdsKey);
      }
    }
    for (const [key, s] of this.definitions.bindings()) {
      const source = this.exchanges.get(s.source);
      const destination =
        s.destinationKind === 'queue' ? this.queues.get(s.destination) : this.exchanges.get(s.destination);
      if (!source || !destination) {
        await this.ctx.meta.delete(key); // A dangling binding from an interrupted delete.
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
    for (const [ex, id] of delayedToOpen) await this.openDelayed(ex, id);
  }

  /** Removes everything in the vhost, messages included (the vhost itself is being deleted). */
  async destroy(): Promise<void> {
    for (const q of [...this.queues.values()]) await this.removeQueue(q);
    for (const ex of [...this.exchanges.values()]) await this.removeExchange(ex);
  }

  async close(): Promise<void> {
    // Claims and delays live in memory: a durable queue's are saved for the next start.
    for (const q of this.queues.values()) {
      if (q.kind !== 'queue' || !q.durable || q.exclusiveOwner !== null) continue;
      const holds = savedHoldsOf(q);
      if (holds !== undefined) await this.ctx.meta.put(this.definitions.holdsKey(q.id), holds);
    }
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    await Promise.all([...this.exchanges.values()].map((ex) => ex.delayed?.close()));
  }

  /** Opens (or recovers) the held messages of a delayed-message exchange; due ones are routed as published. */
  private async openDelayed(ex: Exchange, id: string): Promise<void> {
    const store = await this.ctx.openQueueStore(`delayed-${id}`, ex.durable);
    ex.delayed = await DelayedMessages.open({
      store,
      // Settled only once the routed copies are as durable as their queues make them, so a crash in between
      // fires the message again rather than losing it.
      onDue: (message) => {
        if (this.exchanges.get(ex.name) !== ex) return undefined;
        const keys = this.router.keysOf(message);
        return new Promise<void>((resolve, reject) => {
          this.router.enqueueAll(this.router.routeKeys(ex, message, keys), message, (err) =>
            err && !(err instanceof QueueFullError) ? reject(err) : resolve(),
          );
        });
      },
      onError: (err) => this.ctx.onDelayedStoreError?.(ex, err),
    });
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
      metadata?: QueueMetadata;
    },
    recovering = false,
  ): Promise<ClassicQueue> {
    const store = await this.ctx.openQueueStore(def.id, def.durable);
    const log = new MessageLog(store, this.ctx.queueOptions);
    const queue = new ClassicQueue({ ...def, vhost: this.name }, def.settings, log, {
      requestDelete: (q) => {
        if (this.queues.get(q.name) === q) void this.removeQueue(q);
      },
      deadLetter: (q, message, reason) => routeDeadLetter(this.exchanges, this.router, q, message, reason),
      onStoreError: (q, err) => this.ctx.onQueueStoreError(q, err),
    });
    if (def.durable && def.exclusiveOwner === null && !recovering) {
      try {
        await this.ctx.meta.put(this.key('queue', def.name), storedQueue(queue, queue.metadata));
      } catch (err) {
        await queue.delete().catch(ignore); // never registered: a failed declare leaves nothing behind
        throw err;
      }
    }
    this.queues.set(def.name, queue);
    if (!recovering) queue.touchIdle();
    return queue;
  }

  private async createStream(
    def: { id: string; name: string; arguments: FieldTable },
    settings: StreamSettings,
    recovering = false,
  ): Promise<Stream> {
    const store = await this.ctx.openStreamStore(def.id, settings.segmentMaxBytes);
    const stream = new Stream(
      { ...def, vhost: this.name },
      settings,
      store,
      this.ctx.queueOptions,
      (q, err) => this.ctx.onQueueStoreError(q, err),
      this.definitions.groupPositions(def.id),
    );
    if (!recovering) {
      const stored: StoredQueue = { id: def.id, autoDelete: false, arguments: encodeArgs(def.arguments) };
      try {
        await this.ctx.meta.put(this.key('queue', def.name), stored);
      } catch (err) {
        await stream.delete().catch(ignore); // never registered: a failed declare leaves nothing behind
        throw err;
      }
    }
    this.queues.set(def.name, stream);
    return stream;
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
    if (consumers.length > 0) {
      setImmediate(() => {
        for (const c of consumers) c.cancelledByQueue(q);
      });
    }
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
    await ex.delayed?.destroy();
    ex.delayed = undefined;
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
    const metaKey = this.bindingMetaKey(binding);
    for (let p = this.pendingBindings.get(metaKey); p; p = this.pendingBindings.get(metaKey))
      await p.catch(ignore);
    // The ends may have gone while we waited.
    if (this.exchanges.get(source.name) !== source || !this.isLive(destination)) return;
    if (!this.bindingIsDurable(binding)) {
      source.addBinding(binding);
      return;
    }
    if (source.hasBinding(destination, binding.key)) return;
    const stored: StoredBinding = {
      source: source.name,
      destinationKind: destination.kind === 'exchange' ? 'exchange' : 'queue',
      destination: destination.name,
      routingKey,
      arguments: encodeArgs(args),
    };
    const creation = this.ctx.meta.put(metaKey, stored).then(async () => {
      if (this.exchanges.get(source.name) === source && this.isLive(destination)) source.addBinding(binding);
      // An end was deleted while the write was in flight: its delete could not see this binding yet.
      else await this.ctx.meta.delete(metaKey);
    });
    this.pendingBindings.set(metaKey, creation);
    try {
      await creation;
    } finally {
      this.pendingBindings.delete(metaKey);
    }
  }

  private isLive(destination: Destination): boolean {
    return destination.kind === 'exchange'
      ? this.exchanges.get(destination.name) === destination
      : this.queues.get(destination.name) === destination;
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
    const destinationDurable = d.kind === 'exchange' ? d.durable : d.durable && d.exclusiveOwner === null;
    return b.source.durable && destinationDurable;
  }

  private bindingMetaKey(b: Binding): string {
    const kind = b.destination.kind === 'exchange' ? 'exchange' : 'queue';
    return this.definitions.bindingKey(b.source.name, kind, b.destination.name, b.key);
  }

  private key(kind: 'exchange' | 'queue', name: string): string {
    return this.definitions.key(kind, name);
  }

  private checkExclusive(q: Queue, owner: object): void {
    if (q.exclusiveOwner !== null && q.exclusiveOwner !== owner) {
      throw resourceLocked(
        `cannot obtain exclusive access to locked ${q.describe}. It could be originally declared on another connection or the exclusive property value does not match that of the original declaration.`,
      );
    }
  }
}

/** The x-delay header of a message for a delayed-message exchange, in ms (0 when absent or not a number). */
function textValue(v: FieldValue | undefined): string | undefined {
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
}

function delayOf(message: Message): number {
  if (!message.hasHeaders) return 0;
  const v = message.headers?.['x-delay'];
  const n =
    typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : typeof v === 'string' ? Number(v) : 0;
  return Number.isFinite(n) ? n : 0;
}

/** A durable classic queue's record in the metadata store. */
function storedQueue(queue: ClassicQueue, metadata: QueueMetadata): StoredQueue {
  const stored: StoredQueue = {
    id: queue.id,
    autoDelete: queue.autoDelete,
    arguments: encodeArgs(queue.arguments),
  };
  if (Object.keys(metadata).length > 0) stored.metadata = metadata;
  return stored;
}

function newQueueId(): string {
  return `${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
}

/** What queue.declare-ok reports; a stream reports 0 consumers, as RabbitMQ 3.10 does. */
function declared(queue: Queue): QueueDeclareResult {
  const consumerCount = queue.kind === 'stream' ? 0 : queue.consumerCount;
  return { queue, messageCount: queue.messageCount, consumerCount };
}

/** Quorum queues and streams are replicated logs in RabbitMQ: always durable, never exclusive or auto-delete. */
function checkReplicatedProperties(
  durable: boolean,
  exclusive: boolean,
  autoDelete: boolean,
  describe: string,
) {
  const bad = !durable
    ? 'non-durable'
    : exclusive
      ? 'exclusive-owner'
      : autoDelete
        ? 'auto-delete'
        : undefined;
  if (bad) throw preconditionFailed(`invalid property '${bad}' for ${describe}`);
}
