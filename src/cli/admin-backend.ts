/**
 * What `eventter users|permissions|vhosts` do, whichever way they reach the broker: over a running broker's
 * management HTTP API (this file), or on a stopped broker's data directory (offline-admin.ts). Rows have the
 * management API's shapes, so `--json` prints the same in both modes.
 */
import { toRabbitHash } from '../core/password-hash.js';
import { CommandFailed, type ManagementClient, segment } from './management-client.js';

export interface UserRow {
  name: string;
  tags: string[];
  limits: Record<string, number>;
}

export interface PermissionRow {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}

export interface TopicPermissionRow {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

export interface VhostRow {
  name: string;
  description: string;
  tags: string[];
  /** Ready plus unacknowledged messages; only a running broker counts them. */
  messages?: number;
}

export interface NewUser {
  password?: string;
  /** The stored form (scrypt:…, rabbit-sha256:…); '' for no password. */
  passwordHash?: string;
  tags?: string[];
}

export interface AdminBackend {
  listUsers(): Promise<UserRow[]>;
  putUser(name: string, user: NewUser): Promise<'created' | 'updated'>;
  /** False when there was no such user. */
  deleteUser(name: string): Promise<boolean>;
  listPermissions(): Promise<PermissionRow[]>;
  setPermissions(row: PermissionRow): Promise<void>;
  clearPermissions(user: string, vhost: string): Promise<boolean>;
  listTopicPermissions(): Promise<TopicPermissionRow[]>;
  setTopicPermissions(row: TopicPermissionRow): Promise<void>;
  /** One exchange's, or all of the user's in the vhost. */
  clearTopicPermissions(user: string, vhost: string, exchange?: string): Promise<boolean>;
  listVhosts(): Promise<VhostRow[]>;
  putVhost(name: string, fields: { description: string; tags: string[] }): Promise<'created' | 'updated'>;
  deleteVhost(name: string): Promise<boolean>;
  close(): Promise<void>;
}

/** A running broker, through its management API. */
export class HttpAdminBackend implements AdminBackend {
  constructor(private readonly client: ManagementClient) {}

  async listUsers(): Promise<UserRow[]> {
    const rows = await this.client.list<UserRow>('api/users');
    return rows.map(({ name, tags, limits }) => ({ name, tags, limits: limits ?? {} }));
  }

  async putUser(name: string, user: NewUser): Promise<'created' | 'updated'> {
    const body: Record<string, unknown> = {};
    if (user.password !== undefined) body.password = user.password;
    if (user.passwordHash !== undefined) Object.assign(body, toRabbitHash(user.passwordHash));
    if (user.tags !== undefined) body.tags = user.tags;
    const { status } = await this.client.request('PUT', `api/users/${segment(name)}`, body);
    return status === 201 ? 'created' : 'updated';
  }

  deleteUser(name: string): Promise<boolean> {
    return this.deleteFound(`api/users/${segment(name)}`);
  }

  listPermissions(): Promise<PermissionRow[]> {
    return this.client.list<PermissionRow>('api/permissions');
  }

  async setPermissions(row: PermissionRow): Promise<void> {
    const { configure, write, read } = row;
    await this.client.request('PUT', `api/permissions/${segment(row.vhost)}/${segment(row.user)}`, {
      configure,
      write,
      read,
    });
  }

  clearPermissions(user: string, vhost: string): Promise<boolean> {
    return this.deleteFound(`api/permissions/${segment(vhost)}/${segment(user)}`);
  }

  listTopicPermissions(): Promise<TopicPermissionRow[]> {
    return this.client.list<TopicPermissionRow>('api/topic-permissions');
  }

  async setTopicPermissions(row: TopicPermissionRow): Promise<void> {
    const { exchange, write, read } = row;
    await this.client.request('PUT', `api/topic-permissions/${segment(row.vhost)}/${segment(row.user)}`, {
      exchange,
      write,
      read,
    });
  }

  clearTopicPermissions(user: string, vhost: string, exchange?: string): Promise<boolean> {
    const query = exchange === undefined ? '' : `?exchange=${segment(exchange)}`;
    return this.deleteFound(`api/topic-permissions/${segment(vhost)}/${segment(user)}${query}`);
  }

  async listVhosts(): Promise<VhostRow[]> {
    const rows = await this.client.list<VhostRow>('api/vhosts');
    return rows.map(({ name, description, tags, messages }) => ({ name, description, tags, messages }));
  }

  async putVhost(
    name: string,
    fields: { description: string; tags: string[] },
  ): Promise<'created' | 'updated'> {
    const { status } = await this.client.request('PUT', `api/vhosts/${segment(name)}`, fields);
    return status === 201 ? 'created' : 'updated';
  }

  deleteVhost(name: string): Promise<boolean> {
    return this.deleteFound(`api/vhosts/${segment(name)}`);
  }

  async close(): Promise<void> {}

  /** DELETE; false on 404, except when the reason is an unknown user or vhost named in the path. */
  private async deleteFound(path: string): Promise<boolean> {
    try {
      await this.client.request('DELETE', path);
      return true;
    } catch (err) {
      if (err instanceof CommandFailed && err.status === 404) {
        // "no user 'x'" / "no vhost 'x'" mean the name is wrong, not that nothing was there to delete.
        if (/^404: no (user|vhost) /.test(err.message)) throw err;
        return false;
      }
      throw err;
    }
  }
}
