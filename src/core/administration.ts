import type { AuditActor, AuditTrail } from './audit.js';
import type { PermissionPatterns, TopicPatterns } from './permission-table.js';
import type { PolicyRegistry } from './policies.js';
import type { Policy } from './policy-definition.js';
import { UserAdminError, validateTags } from './user-validation.js';
import type { UserLimits, UserRegistry } from './users.js';
import type { VhostInfo, VhostLimits } from './vhost-info.js';
import type { VhostDirectory } from './vhost-records.js';

/**
 * Changes to users, permissions, vhosts, limits and policies, each recorded in the audit trail once made.
 * Every way in (HTTP API, the admin CLI on a stopped broker, definitions import) goes through here, so none
 * can change something without its event. Reads go straight to the registries.
 */

export type AdminErrorKind = 'bad_request' | 'not_found' | 'read_only';

export class AdminError extends Error {
  override name = 'AdminError';
  constructor(
    message: string,
    readonly kind: AdminErrorKind = 'bad_request',
  ) {
    super(message);
  }
}

/** RabbitMQ's limit names; a negative value means "no limit", as in RabbitMQ. */
export const VHOST_LIMIT_NAMES: ReadonlyArray<keyof VhostLimits> = ['max-connections', 'max-queues'];
export const USER_LIMIT_NAMES: ReadonlyArray<keyof UserLimits> = ['max-connections', 'max-channels'];
export const MAX_VHOST_DESCRIPTION_LENGTH = 1024;

/** Fields of a user change; a password is hashed before it is stored and never appears in an event. */
export interface UserChange {
  password?: string;
  /** A stored hash (scrypt:… or rabbit-sha256:…); '' for a user without password (EXTERNAL only). */
  passwordHash?: string;
  /** Replaces the user's tags; absent keeps them. */
  tags?: string[];
}

export interface AdministrationParts {
  users: UserRegistry;
  vhosts: VhostDirectory;
  policies?: PolicyRegistry;
  audit: AuditTrail;
}

export class Administration {
  readonly users: UserRegistry;
  readonly vhosts: VhostDirectory;
  readonly audit: AuditTrail;
  private readonly policyRegistry: PolicyRegistry | undefined;

  constructor(parts: AdministrationParts) {
    this.users = parts.users;
    this.vhosts = parts.vhosts;
    this.audit = parts.audit;
    this.policyRegistry = parts.policies;
  }

  get policies(): PolicyRegistry {
    if (!this.policyRegistry) throw new AdminError('policies are not available here', 'read_only');
    return this.policyRegistry;
  }

  // --- users ---------------------------------------------------------------------------------------------

  async putUser(actor: AuditActor, name: string, change: UserChange): Promise<'created' | 'updated'> {
    const outcome = await this.users.putUser(name, change);
    const hash = change.passwordHash;
    const password =
      change.password !== undefined || (hash !== undefined && hash !== '')
        ? 'set'
        : hash === ''
          ? 'removed'
          : 'unchanged';
    await this.audit.record(actor, {
      event: outcome === 'created' ? 'user.created' : 'user.updated',
      user: name,
      details: {
        tags: this.users.getUser(name)?.tags ?? [],
        password: outcome === 'created' && password !== 'set' ? 'none' : password,
      },
    });
    return outcome;
  }

  /** Deletes a user and its permissions; false when there was no such user. */
  async deleteUser(actor: AuditActor, name: string): Promise<boolean> {
    if (!(await this.users.deleteUser(name))) return false;
    await this.audit.record(actor, { event: 'user.deleted', user: name });
    return true;
  }

  async setUserLimit(actor: AuditActor, user: string, limit: string, value: unknown): Promise<void> {
    const current: Record<string, number | undefined> = { ...this.requireUser(user).limits };
    await this.changeLimit(actor, { user }, current, limit, value, (limits) =>
      this.users.putUser(user, { limits }),
    );
  }

  async clearUserLimit(actor: AuditActor, user: string, limit: string): Promise<void> {
    await this.setUserLimit(actor, user, limit, -1);
  }

  // --- permissions ---------------------------------------------------------------------------------------

  /** Sets a user's permissions in a vhost; 'created' when the user had none there. */
  async setPermissions(
    actor: AuditActor,
    user: string,
    vhost: string,
    patterns: PermissionPatterns,
  ): Promise<'created' | 'updated'> {
    this.requireUser(user);
    this.requireVhost(vhost);
    const existed = this.users.listPermissions({ user, vhost }).length > 0;
    const { configure, write, read } = patterns;
    await this.users.setPermissions(user, vhost, { configure, write, read });
    await this.audit.record(actor, {
      event: 'permission.set',
      user,
      vhost,
      details: { configure, write, read },
    });
    return existed ? 'updated' : 'created';
  }

  async clearPermissions(actor: AuditActor, user: string, vhost: string): Promise<boolean> {
    if (!(await this.users.clearPermissions(user, vhost))) return false;
    await this.audit.record(actor, { event: 'permission.cleared', user, vhost });
    return true;
  }

  /** Sets one exchange's topic permissions; 'created' when the user had no topic permissions in the vhost. */
  async setTopicPermissions(
    actor: AuditActor,
    user: string,
    vhost: string,
    exchange: string,
    patterns: TopicPatterns,
  ): Promise<'created' | 'updated'> {
    this.requireUser(user);
    this.requireVhost(vhost);
    if (Buffer.byteLength(exchange) > 255) throw new AdminError('an exchange name is at most 255 bytes');
    const existed = this.users.listTopicPermissions({ user, vhost }).length > 0;
    const { write, read } = patterns;
    await this.users.setTopicPermissions(user, vhost, exchange, { write, read });
    await this.audit.record(actor, {
      event: 'topic-permission.set',
      user,
      vhost,
      exchange,
      details: { write, read },
    });
    return existed ? 'updated' : 'created';
  }

  /** Clears one exchange's topic permissions, or all of the user's in the vhost; false when there were none. */
  async clearTopicPermissions(
    actor: AuditActor,
    user: string,
    vhost: string,
    exchange?: string,
  ): Promise<boolean> {
    if (!(await this.users.clearTopicPermissions(user, vhost, exchange))) return false;
    await this.audit.record(actor, { event: 'topic-permission.cleared', user, vhost, exchange });
    return true;
  }

  // --- vhosts --------------------------------------------------------------------------------------------

  /**
   * Creates a vhost or replaces its description and tags. `grantTo`: the user who gets full permissions on
   * a vhost this call creates (what RabbitMQ's HTTP API does for the user creating it).
   */
  async putVhost(
    actor: AuditActor,
    name: string,
    fields: { description?: string; tags?: string[] },
    grantTo?: string,
  ): Promise<'created' | 'updated'> {
    const change: Partial<Omit<VhostInfo, 'name'>> = {};
    if (fields.description !== undefined) {
      if (fields.description.length > MAX_VHOST_DESCRIPTION_LENGTH)
        throw new AdminError(`a description is at most ${MAX_VHOST_DESCRIPTION_LENGTH} characters`);
      change.description = fields.description;
    }
    if (fields.tags !== undefined) change.tags = validateTags(fields.tags);
    const outcome = await this.vhosts.putVhost(name, change);
    const info = this.vhosts.vhostInfo(name);
    await this.audit.record(actor, {
      event: outcome === 'created' ? 'vhost.created' : 'vhost.updated',
      vhost: name,
      details: { description: info?.description ?? '', tags: info?.tags ?? [] },
    });
    if (outcome === 'created' && grantTo !== undefined && this.users.getUser(grantTo)) {
      await this.setPermissions(actor, grantTo, name, { configure: '.*', write: '.*', read: '.*' });
    }
    return outcome;
  }

  /** Deletes a vhost with its queues, exchanges, policies and permissions; false when there was none. */
  async deleteVhost(actor: AuditActor, name: string): Promise<boolean> {
    if (!(await this.vhosts.deleteVhost(name))) return false;
    await this.audit.record(actor, { event: 'vhost.deleted', vhost: name });
    return true;
  }

  async setVhostLimit(actor: AuditActor, vhost: string, limit: string, value: unknown): Promise<void> {
    const current: Record<string, number | undefined> = { ...this.requireVhost(vhost).limits };
    await this.changeLimit(actor, { vhost }, current, limit, value, (limits) =>
      this.vhosts.putVhost(vhost, { limits }),
    );
  }

  async clearVhostLimit(actor: AuditActor, vhost: string, limit: string): Promise<void> {
    await this.setVhostLimit(actor, vhost, limit, -1);
  }

  // --- policies ------------------------------------------------------------------------------------------

  /** Creates or replaces a policy (validated by the registry); true when it is new. */
  async setPolicy(actor: AuditActor, policy: Policy): Promise<boolean> {
    this.requireVhost(policy.vhost);
    const created = await this.policies.set(policy);
    const stored = this.policies.get(policy.vhost, policy.name) ?? policy;
    await this.audit.record(actor, {
      event: 'policy.set',
      vhost: stored.vhost,
      policy: stored.name,
      details: {
        pattern: stored.pattern,
        'apply-to': stored.applyTo,
        priority: stored.priority,
        definition: stored.definition,
      },
    });
    return created;
  }

  async clearPolicy(actor: AuditActor, vhost: string, name: string): Promise<boolean> {
    if (!(await this.policies.clear(vhost, name))) return false;
    await this.audit.record(actor, { event: 'policy.cleared', vhost, policy: name });
    return true;
  }

  /** Sets (or with a negative value removes) one limit of a user or a vhost, and records it. */
  private async changeLimit(
    actor: AuditActor,
    subject: { user: string } | { vhost: string },
    current: Readonly<Record<string, number | undefined>>,
    limit: string,
    value: unknown,
    store: (limits: Record<string, number>) => Promise<unknown>,
  ): Promise<void> {
    const kind = 'user' in subject ? 'user' : 'vhost';
    const bound = limitValue(limit, value, kind === 'user' ? USER_LIMIT_NAMES : VHOST_LIMIT_NAMES, kind);
    const limits: Record<string, number> = {};
    for (const [k, v] of Object.entries(current)) if (v !== undefined && k !== limit) limits[k] = v;
    if (bound === undefined && current[limit] === undefined) return; // nothing to clear
    if (bound !== undefined) limits[limit] = bound;
    await store(limits);
    await this.audit.record(actor, {
      event: bound === undefined ? `${kind}-limit.cleared` : `${kind}-limit.set`,
      ...subject,
      limit,
      details: bound === undefined ? undefined : { value: bound },
    });
  }

  // --- lookups that refuse ---------------------------------------------------------------------------------

  requireUser(name: string) {
    const user = this.users.getUser(name);
    if (!user) throw new UserAdminError(`no user '${name}'`, 'not_found');
    return user;
  }

  requireVhost(name: string): VhostInfo {
    const info = this.vhosts.vhostInfo(name);
    if (!info) throw new AdminError(`no vhost '${name}'`, 'not_found');
    return info;
  }
}

/** A limit's value to store, or undefined to remove it (negative = no limit); throws on unknown names. */
function limitValue(
  limit: string,
  value: unknown,
  known: ReadonlyArray<string>,
  kind: 'vhost' | 'user',
): number | undefined {
  if (!known.includes(limit)) {
    throw new AdminError(`unknown ${kind} limit '${limit.slice(0, 64)}' (known: ${known.join(', ')})`);
  }
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new AdminError(`${limit} must be an integer (negative for no limit)`);
  }
  return value < 0 ? undefined : value;
}
