/**
 * The admin commands on a stopped broker's data directory (`--data-dir DIR`): the metadata store opened
 * directly under the data directory's lock, so they refuse while a broker holds it. Deleting a vhost also
 * deletes its queues' data, so that one operation opens the broker core (without listeners) instead.
 * Changes are audited like any other, by the operating-system account from "local data-dir"; their events
 * wait in the metadata store until the broker's next start logs them and appends them to the audit stream.
 * Config-file users are not seen here (the broker lays them over the stored ones when it starts).
 */
import { stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AdminError, Administration } from '../core/administration.js';
import { type AuditActor, AuditTrail, LOCAL_DATA_DIR } from '../core/audit.js';
import { AuditOutbox } from '../core/audit-outbox.js';
import { Broker, defaultBrokerOptions } from '../core/broker.js';
import { PermissionPatternError } from '../core/permission-pattern.js';
import { UserAdminError } from '../core/user-validation.js';
import { UserRegistry } from '../core/users.js';
import { VhostAdminError } from '../core/vhost-info.js';
import { StoredVhosts } from '../core/vhost-records.js';
import { checkDataDirFormat, DataDirFormatError, readDataFormat } from '../store/data-dir-format.js';
import { DataDirInUseError, DataDirLock } from '../store/data-dir-lock.js';
import { MetadataStore } from '../store/metadata-store.js';
import type {
  AdminBackend,
  NewUser,
  PermissionRow,
  TopicPermissionRow,
  UserRow,
  VhostRow,
} from './admin-backend.js';
import { CommandFailed, EXIT_FAILED } from './management-client.js';

interface Session {
  admin: Administration;
  close(): Promise<void>;
}

/** The operating-system account running the tool: the "who" of its audit events. */
export function osUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? 'unknown'}`;
  }
}

export class OfflineAdminBackend implements AdminBackend {
  private session: Session | undefined;
  private readonly actor: AuditActor;

  constructor(
    private readonly dataDir: string,
    user: string = osUserName(),
  ) {
    this.actor = { user, from: LOCAL_DATA_DIR };
  }

  async listUsers(): Promise<UserRow[]> {
    const { admin } = await this.open();
    return admin.users.listUsers().map(({ name, tags, limits }) => ({ name, tags, limits: { ...limits } }));
  }

  putUser(name: string, user: NewUser): Promise<'created' | 'updated'> {
    return this.change((admin) => admin.putUser(this.actor, name, user));
  }

  deleteUser(name: string): Promise<boolean> {
    return this.change((admin) => admin.deleteUser(this.actor, name));
  }

  async listPermissions(): Promise<PermissionRow[]> {
    const { admin } = await this.open();
    return admin.users
      .listPermissions()
      .map(({ user, vhost, configure, write, read }) => ({ user, vhost, configure, write, read }));
  }

  async setPermissions(row: PermissionRow): Promise<void> {
    await this.change((admin) => admin.setPermissions(this.actor, row.user, row.vhost, row));
  }

  clearPermissions(user: string, vhost: string): Promise<boolean> {
    return this.change((admin) => {
      admin.requireUser(user);
      admin.requireVhost(vhost);
      return admin.clearPermissions(this.actor, user, vhost);
    });
  }

  async listTopicPermissions(): Promise<TopicPermissionRow[]> {
    const { admin } = await this.open();
    return admin.users
      .listTopicPermissions()
      .map(({ user, vhost, exchange, write, read }) => ({ user, vhost, exchange, write, read }));
  }

  async setTopicPermissions(row: TopicPermissionRow): Promise<void> {
    await this.change((admin) =>
      admin.setTopicPermissions(this.actor, row.user, row.vhost, row.exchange, row),
    );
  }

  clearTopicPermissions(user: string, vhost: string, exchange?: string): Promise<boolean> {
    return this.change((admin) => {
      admin.requireUser(user);
      admin.requireVhost(vhost);
      return admin.clearTopicPermissions(this.actor, user, vhost, exchange);
    });
  }

  async listVhosts(): Promise<VhostRow[]> {
    const { admin } = await this.open();
    return admin.vhosts.listVhosts().map(({ name, description, tags }) => ({ name, description, tags }));
  }

  putVhost(name: string, fields: { description: string; tags: string[] }): Promise<'created' | 'updated'> {
    return this.change((admin) => admin.putVhost(this.actor, name, fields));
  }

  async deleteVhost(name: string): Promise<boolean> {
    // The core takes the lock itself: let go of the metadata-only session first.
    await this.close();
    await checkDataDirUsable(this.dataDir);
    const broker = await explained(this.dataDir, () =>
      Broker.open(
        {
          ...defaultBrokerOptions,
          dataDir: this.dataDir,
          users: [],
          vhosts: [],
          createDefaultUser: false,
          offlineAdmin: true,
        },
        pino({ level: 'silent' }),
      ),
    );
    try {
      return await explained(this.dataDir, () => broker.admin.deleteVhost(this.actor, name));
    } finally {
      await broker.close();
    }
  }

  async close(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    await session?.close();
  }

  private change<T>(apply: (admin: Administration) => Promise<T>): Promise<T> {
    return explained(this.dataDir, async () => apply((await this.open()).admin));
  }

  private async open(): Promise<Session> {
    this.session ??= await explained(this.dataDir, () => openSession(this.dataDir));
    return this.session;
  }
}

/** The data directory must exist and have been started by a broker of this version. */
async function checkDataDirUsable(dataDir: string): Promise<void> {
  try {
    if (!(await stat(dataDir)).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new CommandFailed(`no data directory at ${dataDir}`, EXIT_FAILED);
  }
  if ((await explained(dataDir, () => readDataFormat(dataDir))) === undefined) {
    throw new CommandFailed(
      `${dataDir} is not an EventterMQ data directory (no FORMAT file); start the broker on it once first`,
      EXIT_FAILED,
    );
  }
}

async function openSession(dataDir: string): Promise<Session> {
  await checkDataDirUsable(dataDir);
  const lock = await DataDirLock.acquire(dataDir);
  let meta: MetadataStore | undefined;
  try {
    await checkDataDirFormat(dataDir, { fsync: true });
    meta = await MetadataStore.open(join(dataDir, 'meta'), { fsync: true });
    const admin = new Administration({
      users: UserRegistry.openStored(meta),
      vhosts: new StoredVhosts(meta),
      audit: new AuditTrail(new AuditOutbox(meta)),
    });
    const opened = meta;
    return {
      admin,
      async close() {
        try {
          await opened.close();
        } finally {
          await lock.release();
        }
      },
    };
  } catch (err) {
    await meta?.close().catch(() => {});
    await lock.release();
    throw err;
  }
}

/** Runs an operation, turning the errors a person can act on into CommandFailed with their message. */
async function explained<T>(dataDir: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof DataDirInUseError) {
      throw new CommandFailed(
        `${err.message}; while a broker runs, leave out --data-dir to go through its HTTP API`,
        EXIT_FAILED,
      );
    }
    if (
      err instanceof DataDirFormatError ||
      err instanceof UserAdminError ||
      err instanceof AdminError ||
      err instanceof VhostAdminError ||
      err instanceof PermissionPatternError
    ) {
      throw new CommandFailed(err.message, EXIT_FAILED);
    }
    if ((err as NodeJS.ErrnoException).code === 'EACCES') {
      throw new CommandFailed(`cannot use data directory ${dataDir}: ${(err as Error).message}`, EXIT_FAILED);
    }
    throw err;
  }
}
