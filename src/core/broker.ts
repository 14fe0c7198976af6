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
import { Administration } from './administration.js';
import { type AuditActor, AuditTrail } from './audit.js';
import { AuditOutbox, pendingAuditEvents } from './audit-outbox.js';
import { AuditStream } from './audit-stream.js';
import type { QueueOptions } from './classic-queue.js';
import { ConnectionRegistry } from './connection-registry.js';
import type { GroupInfo } from './consumer-group.js';
import { exportDefinitions, exportVhostDefinitions } from './definitions-export.js';
import { type ImportReport, importDefinitions } from './definitions-import.js';
import { PolicyRegistry } from './policies.js';
import { forgetVhostProtocolState, ProtocolState } from './protocol-state.js';
import type { Queue } from './queue.js';
import type { StreamStart } from './stream-arguments.js';
import { type Principal, type UserDefinition, UserRegistry } from './users.js';
import { VHost } from './vhost.js';
import { VHOST_KEY, type VhostEvent, type VhostInfo } from './vhost-info.js';
import { mergedVhostInfo, storedVhostInfo, type VhostDirectory } from './vhost-records.js';

export interface BrokerOptions {
  dataDir: string;
  /** fdatasync before confirming persistent messages. Off only for development. */
  fsync: boolean;
  segmentMaxBytes: number;
  queueCacheBytes: number;
  queueReadAheadBytes: number;
  /** Segment and settle files the stores keep open at once (least recently used ones are closed). */
  maxOpenFiles: number;
  /** Users from the config file (read-only at run time), laid over the stored ones. */
  users: UserDefinition[];
  /**
   * Create guest/guest once on a new data directory; false removes a stored guest at start; undefined does
   * neither (tools on a stopped broker's directory leave that to the broker's own start).
   */
  createDefaultUser: boolean | undefined;
  /** Vhosts created the first time this data directory starts (a later delete is not undone by a restart). */
  vhosts: string[];
  /**
   * Opened by an admin tool on a stopped broker's data directory, not to serve: stored users left as they
   * are (no default user created or removed), no vhosts seeded, audit events kept in the outbox for the
   * broker's next start.
   */
  offlineAdmin?: boolean;
}

export const defaultBrokerOptions: Omit<BrokerOptions, 'dataDir'> = {
  fsync: true,
  segmentMaxBytes: 64 * 1024 * 1024,
  queueCacheBytes: 16 * 1024 * 1024,
  queueReadAheadBytes: 1024 * 1024,
  maxOpenFiles: DEFAULT_MAX_OPEN_FILES,
  users: [],
  createDefaultUser: true,
  vhosts: ['/'],
};

/**
 * The protocol-agnostic broker: namespaces (vhosts), users, and the stores under them. Data directory layout:
 *   meta/          definitions (vhosts, exchanges, queues, bindings)
 *   queues/<id>/   one segment log + settle log per durable queue
 *   transient/     logs of non-durable queues, wiped at every start
 *   LOCK           pid of the broker holding the directory (the lock itself is a socket: data-dir-lock.ts)
 */
export class Broker implements VhostDirectory {
  private readonly vhosts = new Map<string, VHost>();
  readonly users: UserRegistry;
  /** Open client connections of every protocol: vhost and user limits; a deleted vhost's or user's are closed. */
  readonly connections: ConnectionRegistry;
  private readonly vhostListeners = new Set<(event: VhostEvent) => void>();
  private readonly files: FileHandleCache;
  /** Operator policies (RabbitMQ's), persisted in the metadata store; a change re-applies to live queues. */
  readonly policies: PolicyRegistry;
  private readonly writeErrorListeners = new Set<(err: Error) => void>();
  private closed = false;
  /** Damage recovery found in queue stores (their records are lost): kept for the health endpoint. */
  private readonly storageDamage: Array<StorageDamage & { vhost: string; queueId: string }> = [];
  /** The audit of administration (audit.ts): what definitions imports record their changes in. */
  readonly audit: AuditTrail;
  /** Audited changes to users, permissions, vhosts, limits and policies. */
  readonly admin: Administration;
  private readonly auditStream: AuditStream | undefined;

  private constructor(
    readonly options: BrokerOptions,
    private readonly meta: MetadataStore,
    private readonly commit: GroupCommit,
    private readonly logger: Logger,
    private readonly lock: DataDirLock,
    users: UserRegistry,
  ) {
    this.users = users;
    this.connections = new ConnectionRegistry((name) => this.vhostInfo(name)?.limits);
    // Registered first, so a deleted vhost's clients are told before anything of it is destroyed.
    this.onVhostEvent((event) => {
      if (event.kind === 'deleted') this.connections.closeVhost(event.vhost);
    });
    users.onUserDeleted((name) => this.connections.closeUser(name));
    this.files = new FileHandleCache({ maxOpenFiles: options.maxOpenFiles });
    this.policies = new PolicyRegistry(meta, {
      onWarning: (message) => logger.warn({ store: 'meta' }, message),
    });
    this.policies.onChange((vhost) => this.vhosts.get(vhost)?.reapplyPolicies());
    if (options.offlineAdmin) {
      this.audit = new AuditTrail(new AuditOutbox(meta));
    } else {
      this.auditStream = new AuditStream({
        vhost: (name) => this.vhosts.get(name),
        createVhost: async (name) => {
          await this.putVhost(name);
        },
      });
      this.audit = new AuditTrail(this.auditStream, logger);
    }
    this.admin = new Administration({ users, vhosts: this, policies: this.policies, audit: this.audit });
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
    const users = options.offlineAdmin
      ? UserRegistry.openStored(meta)
      : await UserRegistry.open(meta, options.users, {
          createDefaultUser: options.createDefaultUser,
          loopbackUsers: ['guest'],
        });
    const broker = new Broker(options, meta, commit, logger, lock, users);
    reportWriteError = (err) => broker.reportWriteError(err);
    broker.policies.load(); // before recovery: recovered queues start with their policy applied
    for (const name of options.offlineAdmin ? [] : options.vhosts) {
      const seeded = `seed\u0000vhost\u0000${name}`;
      if (meta.has(seeded)) continue;
      if (!meta.has(VHOST_KEY + name)) await meta.put(VHOST_KEY + name, { name });
      await meta.put(seeded, true);
    }
    const names = meta.entries(VHOST_KEY).map(([k]) => k.slice(VHOST_KEY.length));
    const started = Date.now();
    for (const name of names) {
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
      { dataDir: options.dataDir, vhosts: names.length, queues, messages, ms: Date.now() - started },
      'recovered',
    );
    if (!options.offlineAdmin) await broker.startAudit(meta);
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

  /** Definitions in RabbitMQ's format: the whole broker or one vhost (definitions-export.ts, -import.ts). */
  readonly definitions = {
    hasVhost: (vhost: string) => this.vhosts.has(vhost),
    export: (vhost?: string) =>
      vhost === undefined ? exportDefinitions(this) : exportVhostDefinitions(this, vhost),
    /** Imports, then records who imported what (one audit event with the counts) when it changed anything. */
    import: async (input: unknown, vhost?: string, actor?: AuditActor): Promise<ImportReport> => {
      const report = await importDefinitions(this, input, { vhost });
      const changed = Object.values(report.counts).some((c) => c.created + c.updated > 0);
      if (actor && changed) {
        await this.audit.record(actor, {
          event: 'definitions.imported',
          vhost,
          details: { counts: report.counts, warnings: report.warnings.length },
        });
      }
      return report;
    },
  };

  vhost(name: string): VHost | undefined {
    return this.vhosts.get(name);
  }

  /** Names of every vhost. */
  vhostNames(): string[] {
    return [...this.vhosts.keys()];
  }

  /** Durable records a protocol adapter keeps for itself (MQTT sessions, retained messages). */
  protocolState(protocol: string): ProtocolState {
    return new ProtocolState(this.meta, protocol);
  }

  authenticate(
    username: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<Principal | undefined> {
    return this.users.authenticate(username, password, remoteAddress);
  }

  authenticateExternal(username: string, remoteAddress: string | undefined): Promise<Principal | undefined> {
    return this.users.authenticateExternal(username, remoteAddress);
  }

  // --- vhosts as administrators manage them ------------------------------------------------------------

  listVhosts(): VhostInfo[] {
    return [...this.vhosts.keys()].sort().map((name) => this.vhostInfo(name)!);
  }

  vhostInfo(name: string): VhostInfo | undefined {
    if (!this.vhosts.has(name)) return undefined;
    return storedVhostInfo(this.meta, name) ?? { name, description: '', tags: [], limits: {} };
  }

  /** Ready and unacknowledged messages of a vhost's queues and streams (management API figures). */
  messageCounts(name: string): { ready: number; unacknowledged: number } | undefined {
    const vhost = this.vhosts.get(name);
    if (!vhost) return undefined;
    let ready = 0;
    let unacknowledged = 0;
    for (const q of vhost.allQueues()) {
      ready += q.messageCount;
      unacknowledged += q.unackedCount;
    }
    return { ready, unacknowledged };
  }

  /** Creates a vhost, or updates its description, tags or limits. */
  async putVhost(
    name: string,
    fields: Partial<Omit<VhostInfo, 'name'>> = {},
  ): Promise<'created' | 'updated'> {
    const existing = this.vhostInfo(name);
    await this.meta.put(VHOST_KEY + name, mergedVhostInfo(name, existing, fields));
    if (existing) return 'updated';
    this.createVHost(name);
    this.emitVhostEvent({ kind: 'created', vhost: name });
    return 'created';
  }

  /**
   * Deletes a vhost with everything in it: queues and streams (with their messages), exchanges, bindings,
   * policies and permissions. Its connections are closed first (320 CONNECTION_FORCED "vhost 'x' is deleted").
   */
  async deleteVhost(name: string): Promise<boolean> {
    const vhost = this.vhosts.get(name);
    if (!vhost) return false;
    this.vhosts.delete(name);
    this.emitVhostEvent({ kind: 'deleted', vhost: name });
    await vhost.destroy();
    for (const p of this.policies.list(name)) await this.policies.clear(name, p.name);
    await this.users.forgetVhost(name);
    await forgetVhostProtocolState(this.meta, name);
    await this.meta.delete(VHOST_KEY + name);
    return true;
  }

  /** Subscribes to vhosts being created and deleted; returns an unsubscribe. */
  onVhostEvent(listener: (event: VhostEvent) => void): () => void {
    this.vhostListeners.add(listener);
    return () => this.vhostListeners.delete(listener);
  }

  private emitVhostEvent(event: VhostEvent): void {
    for (const listener of this.vhostListeners) {
      try {
        listener(event);
      } catch (err) {
        this.logger.error({ err }, 'vhost event listener failed');
      }
    }
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

  /** Creates the audit stream, then logs and moves to it the events recorded while the broker was stopped. */
  private async startAudit(meta: MetadataStore): Promise<void> {
    try {
      await this.auditStream?.ensure();
      for (const { key, event } of pendingAuditEvents(meta)) {
        if (!(await this.audit.publish(event))) break; // kept for the next start
        await meta.delete(key);
      }
    } catch (err) {
      // The broker serves without its audit stream rather than not at all; every event is still logged.
      this.logger.error({ err }, 'audit stream unavailable');
    }
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
      limits: () => this.vhostInfo(name)?.limits ?? {},
    });
    this.vhosts.set(name, vhost);
    return vhost;
  }
}
