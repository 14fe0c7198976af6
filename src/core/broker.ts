import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createDataDir } from '../store/data-dir.js';
import { checkDataDirFormat } from '../store/data-dir-format.js';
import { DataDirLock } from '../store/data-dir-lock.js';
import { DEFAULT_MAX_OPEN_FILES, FileHandleCache } from '../store/file-handle-cache.js';
import { makeDir } from '../store/fs-io.js';
import { GroupCommit } from '../store/group-commit.js';
import { MetadataStore } from '../store/metadata-store.js';
import { QueueStore } from '../store/queue-store.js';
import type { StorageDamage } from '../store/storage-damage.js';
import { StreamStore } from '../store/stream-store.js';
import type { QueueOptions } from './classic-queue.js';
import type { GroupInfo } from './consumer-group.js';
import { PolicyRegistry } from './policies.js';
import type { Queue } from './queue.js';
import type { StreamStart } from './stream-arguments.js';
import { type User, type UserDefinition, UserRegistry } from './users.js';
import { VHost } from './vhost.js';

export interface BrokerOptions {
  dataDir: string;
  /** fdatasync before confirming persistent messages. Off only for development. */
  fsync: boolean;
  segmentMaxBytes: number;
  queueCacheBytes: number;
  queueReadAheadBytes: number;
  /** Segment and settle files the stores keep open at once (least recently used ones are closed). */
  maxOpenFiles: number;
  users: UserDefinition[];
  vhosts: string[];
}

export const defaultBrokerOptions: Omit<BrokerOptions, 'dataDir'> = {
  fsync: true,
  segmentMaxBytes: 64 * 1024 * 1024,
  queueCacheBytes: 16 * 1024 * 1024,
  queueReadAheadBytes: 1024 * 1024,
  maxOpenFiles: DEFAULT_MAX_OPEN_FILES,
  users: [{ name: 'guest', password: 'guest', vhosts: ['/'], loopbackOnly: true }],
  vhosts: ['/'],
};

/**
 * The protocol-agnostic broker: namespaces (vhosts), users, and the stores under them. Data directory layout:
 *   meta/          definitions (vhosts, exchanges, queues, bindings)
 *   queues/<id>/   one segment log + settle log per durable queue
 *   transient/     logs of non-durable queues, wiped at every start
 *   LOCK           pid of the broker holding the directory (the lock itself is a socket: data-dir-lock.ts)
 */
export class Broker {
  private readonly vhosts = new Map<string, VHost>();
  private readonly users: UserRegistry;
  private readonly files: FileHandleCache;
  /** Operator policies (RabbitMQ's), persisted in the metadata store; a change re-applies to live queues. */
  readonly policies: PolicyRegistry;
  private readonly writeErrorListeners = new Set<(err: Error) => void>();
  private closed = false;
  /** Damage recovery found in queue stores (their records are lost): kept for the health endpoint. */
  private readonly storageDamage: Array<StorageDamage & { vhost: string; queueId: string }> = [];

  private constructor(
    readonly options: BrokerOptions,
    private readonly meta: MetadataStore,
    private readonly commit: GroupCommit,
    private readonly logger: Logger,
    private readonly lock: DataDirLock,
  ) {
    this.users = new UserRegistry(options.users);
    this.files = new FileHandleCache({ maxOpenFiles: options.maxOpenFiles });
    this.policies = new PolicyRegistry(meta, {
      onWarning: (message) => logger.warn({ store: 'meta' }, message),
    });
    this.policies.onChange((vhost) => this.vhosts.get(vhost)?.reapplyPolicies());
  }

  static async open(options: BrokerOptions, logger: Logger): Promise<Broker> {
    await createDataDir(options.dataDir, options.fsync);
    const lock = await DataDirLock.acquire(options.dataDir);
    try {
      await checkDataDirFormat(options.dataDir, { fsync: options.fsync });
      return await Broker.openLocked(options, logger, lock);
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  private static async openLocked(
    options: BrokerOptions,
    logger: Logger,
    lock: DataDirLock,
  ): Promise<Broker> {
    await rm(join(options.dataDir, 'transient'), { recursive: true, force: true });
    await makeDir(join(options.dataDir, 'queues'), options.fsync);
    // The broker does not exist yet when the store opens: its write errors reach the listeners through this.
    let reportWriteError: (err: Error) => void = () => {};
    const meta = await MetadataStore.open(join(options.dataDir, 'meta'), {
      fsync: options.fsync,
      onWarning: (message) => logger.warn({ store: 'meta' }, message),
      onWriteError: (err) => reportWriteError(err),
    });
    const commit = new GroupCommit({ fsync: options.fsync });
    const broker = new Broker(options, meta, commit, logger, lock);
    reportWriteError = (err) => broker.reportWriteError(err);
    broker.policies.load(); // before recovery: recovered queues start with their policy applied
    const names = new Set([...options.vhosts, ...meta.entries('vhost\u0000').map(([k]) => k.slice(6))]);
    const started = Date.now();
    for (const name of names) {
      if (!meta.get(`vhost\u0000${name}`)) await meta.put(`vhost\u0000${name}`, { name });
      const vhost = broker.createVHost(name);
      await vhost.recover();
    }
    let messages = 0;
    let queues = 0;
    for (const v of broker.vhosts.values()) {
      for (const q of v.allQueues()) {
        queues++;
        messages += q.messageCount;
      }
    }
    logger.info(
      { dataDir: options.dataDir, vhosts: names.size, queues, messages, ms: Date.now() - started },
      'recovered',
    );
    return broker;
  }

  /**
   * Subscribes to every failed write or sync of any store (ENOSPC, EIO): the server re-checks free disk at once
   * rather than at its next poll. Returns an unsubscribe.
   */
  onStoreWriteError(listener: (err: Error) => void): () => void {
    this.writeErrorListeners.add(listener);
    return () => this.writeErrorListeners.delete(listener);
  }

  /** Streams' consumer groups, for the management API. */
  readonly streams = {
    groups: (vhost: string, stream: string): GroupInfo[] | undefined => {
      const q = this.vhosts.get(vhost)?.findQueue(stream);
      return q?.kind === 'stream' ? q.groupInfo() : undefined;
    },
    resetGroup: async (
      vhost: string,
      stream: string,
      group: string,
      start: StreamStart,
    ): Promise<boolean> => {
      const q = this.vhosts.get(vhost)?.findQueue(stream);
      if (q?.kind !== 'stream') return false;
      await q.resetGroup(group, start);
      return true;
    },
  };

  vhost(name: string): VHost | undefined {
    return this.vhosts.get(name);
  }

  authenticate(
    username: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<User | undefined> {
    return this.users.authenticate(username, password, remoteAddress);
  }

  /** A user named by a verified client certificate (SASL EXTERNAL); no password. */
  authenticateExternal(name: string, remoteAddress: string | undefined): Promise<User | undefined> {
    return this.users.authenticateExternal(name, remoteAddress);
  }

  stats(): {
    vhosts: number;
    queues: number;
    messages: number;
    storageDamage: Array<StorageDamage & { vhost: string; queue: string }>;
  } {
    let queues = 0;
    let messages = 0;
    const names = new Map<string, string>();
    for (const v of this.vhosts.values()) {
      for (const q of v.allQueues()) {
        queues++;
        messages += q.messageCount + q.unackedCount;
        if (this.storageDamage.length > 0) names.set(`${v.name}\u0000${q.id}`, q.name);
      }
    }
    const storageDamage = this.storageDamage.map(({ queueId, ...d }) => ({
      ...d,
      queue: names.get(`${d.vhost}\u0000${queueId}`) ?? `(deleted queue ${queueId})`,
    }));
    // Reads find damage in any order (a sealed segment's damage is only met when it is read): sort for people.
    storageDamage.sort(
      (a, b) => a.vhost.localeCompare(b.vhost) || a.file.localeCompare(b.file) || a.fromByte - b.fromByte,
    );
    return { vhosts: this.vhosts.size, queues, messages, storageDamage };
  }

  /** Flushes every pending write and sync, closes the stores. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.vhosts.values()].map((v) => v.close()));
    await this.commit.flush();
    await this.commit.close();
    await this.meta.close();
    // Only once everything is closed; after a failure the lock goes when the process exits.
    await this.lock.release();
  }

  private reportWriteError(err: Error): void {
    for (const listener of this.writeErrorListeners) {
      try {
        listener(err);
      } catch (listenerErr) {
        this.logger.error({ err: listenerErr }, 'store write error listener failed');
      }
    }
  }

  private createVHost(name: string): VHost {
    const queueOptions: QueueOptions = {
      cacheBytes: this.options.queueCacheBytes,
      readAheadBytes: this.options.queueReadAheadBytes,
    };
    const vhost = new VHost(name, {
      meta: this.meta,
      queueOptions,
      openQueueStore: (id, durable) =>
        QueueStore.open({
          dir: join(this.options.dataDir, durable ? 'queues' : 'transient', id),
          commit: this.commit,
          fsync: this.options.fsync,
          segmentMaxBytes: this.options.segmentMaxBytes,
          durable,
          files: this.files,
          onWarning: (message) => this.logger.warn({ vhost: name, queueId: id }, message),
          onWriteError: (err) => this.reportWriteError(err),
          onDamage: (damage) => this.storageDamage.push({ ...damage, vhost: name, queueId: id }),
        }),
      openStreamStore: (id, segmentMaxBytes) =>
        StreamStore.open({
          dir: join(this.options.dataDir, 'streams', id),
          commit: this.commit,
          fsync: this.options.fsync,
          segmentMaxBytes,
          files: this.files,
          onWarning: (message) => this.logger.warn({ vhost: name, streamId: id }, message),
          onDamage: (damage) => this.storageDamage.push({ ...damage, vhost: name, queueId: id }),
          onWriteError: (err) => this.reportWriteError(err),
        }),
      onQueueStoreError: (queue: Queue, err: Error) =>
        this.logger.error({ err, vhost: name, queue: queue.name }, 'queue store error'),
      effectiveQueueArguments: (vhost, queue, args) =>
        this.policies.effectiveQueueArguments(vhost, queue, args),
      effectiveExchangeArguments: (vhost, exchange, args) =>
        this.policies.effectiveExchangeArguments(vhost, exchange, args),
    });
    this.vhosts.set(name, vhost);
    return vhost;
  }
}
