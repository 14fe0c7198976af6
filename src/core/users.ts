import { createHash } from 'node:crypto';
import type { MetadataStore } from '../store/metadata-store.js';
import { BUSY, DEFAULT_LOGIN_GATE, LoginGate, type LoginGateOptions } from './login-gate.js';
import {
  hashPassword,
  isLegacyHash,
  passwordHashProblem,
  safeEqual,
  verifyPassword,
} from './password-hash.js';
import {
  CompiledPermissions,
  CompiledTopicPermissions,
  FULL_PERMISSIONS,
  type PermissionPatterns,
  type TopicPatterns,
} from './permission-table.js';
import {
  MAX_PASSWORD_LENGTH,
  MAX_USER_NAME_LENGTH,
  UserAdminError,
  validatePassword,
  validateTags,
  validateUserName,
} from './user-validation.js';

/**
 * The broker's users, their permissions and topic permissions (RabbitMQ's model).
 *
 * Two sources: users stored in the metadata store (created with `eventter users`, the HTTP API or a
 * definitions import; password hashes only, never plain text), and users from the config file, which are
 * re-read at every start, cannot be changed at run time and get full permissions on the vhosts they list.
 * Changes are visible only once durable, and apply at once to connected clients (a principal looks its
 * permissions up on every check; the compiled patterns cache the answers).
 */

/** A user as the config file defines it. */
export interface UserDefinition {
  name: string;
  /** Plain password (fine for dev configs), or a hash `scrypt:<salt-b64>:<key-b64>` (eventter hash-password). */
  password?: string;
  passwordHash?: string;
  vhosts: string[];
  /** Only connections from loopback may log in as this user (RabbitMQ's rule for guest). */
  loopbackOnly: boolean;
  tags?: string[];
}

/** RabbitMQ's per-user limits; absent = unlimited. */
export interface UserLimits {
  'max-connections'?: number;
  'max-channels'?: number;
}

export interface StoredUser {
  name: string;
  passwordHash: string;
  tags: string[];
  limits?: UserLimits;
  /** The imported RabbitMQ hash a login replaced with passwordHash: importing that file again changes nothing. */
  upgradedFrom?: string;
}

/** What a user looks like to admin tools (no hash unless asked for). */
export interface UserInfo {
  name: string;
  tags: string[];
  limits: UserLimits;
  /** 'config' users are read-only at run time. */
  source: 'store' | 'config';
  loopbackOnly: boolean;
}

export interface PermissionEntry extends PermissionPatterns {
  user: string;
  vhost: string;
}

export interface TopicPermissionEntry extends TopicPatterns {
  user: string;
  vhost: string;
  exchange: string;
}

/** An authenticated user, as adapters hold it for a connection. */
export interface Principal {
  readonly name: string;
  readonly tags: ReadonlySet<string>;
  /** Permissions in vhost, current at the time of the call; undefined = no access to the vhost. */
  permissions(vhost: string): CompiledPermissions | undefined;
  topicPermissions(vhost: string, exchange: string): CompiledTopicPermissions | undefined;
  /** Per-user limits, current at the time of the call. */
  limits(): UserLimits;
  /** Changes whenever any permission changes: lets a publisher cache one answer until then. */
  permissionsVersion(): number;
}

/** A login's outcome; `refused` says why, for the broker's log (clients are told less). */
export type LoginResult =
  | { principal: Principal; refused?: undefined }
  | { principal?: undefined; refused: string };

/** @deprecated name kept for adapters: a logged-in user is a Principal. */
export type User = Principal;

export { UserAdminError } from './user-validation.js';

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.');
}

const USER_KEY = 'user\u0000';
const PERMISSION_KEY = 'permission\u0000';
const TOPIC_KEY = 'topic-permission\u0000';

interface KnownUser {
  record: StoredUser;
  /** The config file's plain password, never stored. */
  plainPassword?: string;
  source: 'store' | 'config';
}

export interface UserRegistryOptions {
  /** Users allowed to log in from loopback addresses only (RabbitMQ's loopback_users). */
  loopbackUsers?: Iterable<string>;
  /** Bounds on concurrent scrypt checks (login-gate.ts). */
  loginGate?: LoginGateOptions;
}

/** Wrong passwords remembered (as digests), so a client retrying the same one costs no scrypt. */
const MAX_REMEMBERED_FAILURES = 1024;

export class UserRegistry {
  private readonly users = new Map<string, KnownUser>();
  private readonly loopbackUsers: Set<string>;
  /** `${vhost}\0${user}` → permissions. */
  private readonly permissionsByKey = new Map<string, CompiledPermissions>();
  /** `${vhost}\0${user}\0${exchange}` → topic permissions. */
  private readonly topicByKey = new Map<string, CompiledTopicPermissions>();
  /**
   * SHA-256 of the last password that passed a scrypt check, per user: scrypt costs tens of milliseconds by
   * design, and a reconnecting client should not pay it (nor stall others) every time.
   */
  private readonly verified = new Map<string, Buffer>();
  /** Digests of (user, stored hash, password) that failed a scrypt check; a changed hash makes them moot. */
  private readonly failed = new Set<string>();
  /** Checks in flight by the same key: a pool of connections logging in at once costs one scrypt. */
  private readonly checking = new Map<string, Promise<boolean | typeof BUSY>>();
  private readonly gate: LoginGate;
  private version = 0;
  private readonly deletedListeners = new Set<(name: string) => void>();
  private meta: MetadataStore | undefined;

  /** Config-file users only, in memory (tests and the stopped-broker tools use this directly). */
  constructor(configUsers: UserDefinition[], options: UserRegistryOptions = {}) {
    this.loopbackUsers = new Set(options.loopbackUsers ?? []);
    this.gate = new LoginGate(options.loginGate ?? DEFAULT_LOGIN_GATE);
    for (const d of configUsers) this.addConfigUser(d);
  }

  /**
   * Loads stored users and permissions, then lays the config file's users over them. With
   * `createDefaultUser`, guest/guest (administrator, full permissions on "/") is created once, the first time
   * this data directory starts; with it off, a stored guest is removed (the config switch that removes it).
   */
  static async open(
    meta: MetadataStore,
    configUsers: UserDefinition[],
    /** undefined: neither creates nor removes guest (tools working on a stopped broker's data directory). */
    options: UserRegistryOptions & { createDefaultUser: boolean | undefined },
  ): Promise<UserRegistry> {
    const registry = new UserRegistry([], options);
    registry.meta = meta;
    registry.load();
    const seeded = 'seed\u0000user\u0000guest';
    if (options.createDefaultUser && !meta.has(seeded) && !registry.users.has('guest')) {
      await registry.putUser('guest', { password: 'guest', tags: ['administrator'] });
      await registry.setPermissions('guest', '/', FULL_PERMISSIONS);
      await meta.put(seeded, true);
    } else if (options.createDefaultUser === false && registry.users.get('guest')?.source === 'store') {
      await registry.deleteUser('guest');
    }
    for (const d of configUsers) registry.addConfigUser(d);
    return registry;
  }

  /**
   * The stored users and permissions only, as they are: no default user created or removed, no config-file
   * users (the admin tools working on a stopped broker's data directory).
   */
  static openStored(meta: MetadataStore): UserRegistry {
    const registry = new UserRegistry([]);
    registry.meta = meta;
    registry.load();
    return registry;
  }

  /** Resolves to the user, or undefined on unknown name, wrong password or a non-loopback login of a loopback user. */
  async authenticate(
    name: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<Principal | undefined> {
    return (await this.login(name, password, remoteAddress)).principal;
  }

  /** As authenticate, saying why a login was refused (RabbitMQ's log texts). */
  async login(name: string, password: string, remoteAddress: string | undefined): Promise<LoginResult> {
    // Nothing this long can be stored: refuse before hashing anything.
    if (name.length > MAX_USER_NAME_LENGTH)
      return { refused: `user name longer than ${MAX_USER_NAME_LENGTH}` };
    if (password.length > MAX_PASSWORD_LENGTH)
      return { refused: `user '${name}' - password longer than ${MAX_PASSWORD_LENGTH}` };
    const known = this.users.get(name);
    if (!known) return { refused: `user '${name}' - invalid credentials` };
    const matches = await this.passwordMatches(known, password, remoteAddress ?? '');
    if (matches === BUSY)
      return { refused: `user '${name}' - too many logins waiting from ${remoteAddress ?? 'this client'}` };
    if (!matches) return { refused: `user '${name}' - invalid credentials` };
    if (this.loopbackUsers.has(name) && !isLoopbackAddress(remoteAddress))
      return { refused: `user '${name}' can only connect via localhost` };
    return { principal: this.principal(name)! };
  }

  /** A user whose identity something else proved (a TLS client certificate): no password check. */
  async authenticateExternal(
    name: string,
    remoteAddress: string | undefined,
  ): Promise<Principal | undefined> {
    if (!this.users.has(name)) return undefined;
    if (this.loopbackUsers.has(name) && !isLoopbackAddress(remoteAddress)) return undefined;
    return this.principal(name);
  }

  /** The principal for a known user (admin tools acting with a user's rights), or undefined. */
  principal(name: string): Principal | undefined {
    const known = this.users.get(name);
    if (!known) return undefined;
    return {
      name,
      tags: new Set(known.record.tags),
      permissions: (vhost) => this.permissionsByKey.get(`${vhost}\u0000${name}`),
      topicPermissions: (vhost, exchange) => this.topicByKey.get(`${vhost}\u0000${name}\u0000${exchange}`),
      limits: () => this.users.get(name)?.record.limits ?? {},
      permissionsVersion: () => this.version,
    };
  }

  // --- users -------------------------------------------------------------------------------------------

  listUsers(): UserInfo[] {
    return [...this.users.values()]
      .map((u) => this.info(u))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  getUser(name: string): UserInfo | undefined {
    const known = this.users.get(name);
    return known && this.info(known);
  }

  /** The stored hash (for definitions export); undefined for unknown users and config users with plain passwords. */
  passwordHashOf(name: string): string | undefined {
    const hash = this.users.get(name)?.record.passwordHash;
    return hash === '' ? undefined : hash;
  }

  /** Whether `hash` is the user's password hash, or the imported one a login upgraded to it (definitions import). */
  holdsPasswordHash(name: string, hash: string): boolean {
    const record = this.users.get(name)?.record;
    return record !== undefined && (record.passwordHash === hash || record.upgradedFrom === hash);
  }

  /**
   * Creates or replaces a stored user. Exactly one of password / passwordHash, or neither to keep an existing
   * user's password (a user without any password can only log in by EXTERNAL). Tags replace the old ones.
   */
  async putUser(
    name: string,
    fields: { password?: string; passwordHash?: string; tags?: string[]; limits?: UserLimits },
  ): Promise<'created' | 'updated'> {
    validateUserName(name);
    if (fields.password !== undefined) validatePassword(fields.password);
    const existing = this.writableUser(name, true);
    if (fields.password !== undefined && fields.passwordHash !== undefined)
      throw new UserAdminError('give a password or a password hash, not both');
    if (fields.passwordHash !== undefined && fields.passwordHash !== '') {
      const problem = passwordHashProblem(fields.passwordHash);
      if (problem) throw new UserAdminError(`password hash ${problem}`);
    }
    const passwordHash =
      fields.password !== undefined
        ? await hashPassword(fields.password)
        : (fields.passwordHash ?? existing?.record.passwordHash ?? '');
    const record: StoredUser = {
      name,
      passwordHash,
      tags: fields.tags !== undefined ? validateTags(fields.tags) : (existing?.record.tags ?? []),
    };
    const limits = fields.limits ?? existing?.record.limits;
    if (limits && Object.keys(limits).length > 0) record.limits = limits;
    await this.store().put(USER_KEY + name, record);
    this.users.set(name, { record, source: 'store' });
    this.verified.delete(name);
    return existing ? 'updated' : 'created';
  }

  /** Deletes a stored user with all its permissions; false when there was no such user. */
  async deleteUser(name: string): Promise<boolean> {
    if (!this.writableUser(name, true)) return false;
    const meta = this.store();
    for (const e of this.listPermissions({ user: name })) await this.clearPermissions(name, e.vhost);
    for (const e of this.listTopicPermissions({ user: name }))
      await this.clearTopicPermissions(name, e.vhost, e.exchange);
    await meta.delete(USER_KEY + name);
    this.users.delete(name);
    this.verified.delete(name);
    for (const listener of this.deletedListeners) listener(name);
    return true;
  }

  /** Subscribes to users being deleted (their connections are closed); returns an unsubscribe. */
  onUserDeleted(listener: (name: string) => void): () => void {
    this.deletedListeners.add(listener);
    return () => this.deletedListeners.delete(listener);
  }

  // --- permissions --------------------------------------------------------------------------------------

  async setPermissions(user: string, vhost: string, patterns: PermissionPatterns): Promise<void> {
    this.requireUser(user);
    const compiled = new CompiledPermissions({ ...patterns }); // throws on unsafe patterns before storing
    await this.store().put(`${PERMISSION_KEY}${vhost}\u0000${user}`, { ...compiled.source });
    this.permissionsByKey.set(`${vhost}\u0000${user}`, compiled);
    this.version++;
  }

  async clearPermissions(user: string, vhost: string): Promise<boolean> {
    const key = `${vhost}\u0000${user}`;
    if (!this.permissionsByKey.has(key)) return false;
    await this.store().delete(PERMISSION_KEY + key);
    this.permissionsByKey.delete(key);
    this.version++;
    return true;
  }

  listPermissions(filter: { user?: string; vhost?: string } = {}): PermissionEntry[] {
    const out: PermissionEntry[] = [];
    for (const [key, compiled] of this.permissionsByKey) {
      const [vhost, user] = key.split('\u0000');
      if (
        (filter.user === undefined || filter.user === user) &&
        (filter.vhost === undefined || filter.vhost === vhost)
      )
        out.push({ user, vhost, ...compiled.source });
    }
    return out.sort((a, b) => compareText(a.vhost, b.vhost) || compareText(a.user, b.user));
  }

  async setTopicPermissions(
    user: string,
    vhost: string,
    exchange: string,
    patterns: TopicPatterns,
  ): Promise<void> {
    this.requireUser(user);
    const compiled = new CompiledTopicPermissions(
      { write: patterns.write, read: patterns.read },
      { username: user, vhost },
    );
    await this.store().put(`${TOPIC_KEY}${vhost}\u0000${user}\u0000${exchange}`, { ...compiled.source });
    this.topicByKey.set(`${vhost}\u0000${user}\u0000${exchange}`, compiled);
    this.version++;
  }

  /** Clears one exchange's topic permissions, or all of the user's in the vhost when exchange is undefined. */
  async clearTopicPermissions(user: string, vhost: string, exchange?: string): Promise<boolean> {
    const entries = this.listTopicPermissions({ user, vhost }).filter(
      (e) => exchange === undefined || e.exchange === exchange,
    );
    for (const e of entries) {
      const key = `${vhost}\u0000${user}\u0000${e.exchange}`;
      await this.store().delete(TOPIC_KEY + key);
      this.topicByKey.delete(key);
      this.version++;
    }
    return entries.length > 0;
  }

  listTopicPermissions(filter: { user?: string; vhost?: string } = {}): TopicPermissionEntry[] {
    const out: TopicPermissionEntry[] = [];
    for (const [key, compiled] of this.topicByKey) {
      const [vhost, user, exchange] = key.split('\u0000');
      if (
        (filter.user === undefined || filter.user === user) &&
        (filter.vhost === undefined || filter.vhost === vhost)
      )
        out.push({ user, vhost, exchange, ...compiled.source });
    }
    return out.sort(
      (a, b) =>
        compareText(a.vhost, b.vhost) || compareText(a.user, b.user) || compareText(a.exchange, b.exchange),
    );
  }

  /** A deleted vhost takes its permissions with it. */
  async forgetVhost(vhost: string): Promise<void> {
    for (const e of this.listPermissions({ vhost })) {
      const key = `${vhost}\u0000${e.user}`;
      if (this.meta?.has(PERMISSION_KEY + key)) await this.meta.delete(PERMISSION_KEY + key);
      this.permissionsByKey.delete(key);
      this.version++;
    }
    for (const e of this.listTopicPermissions({ vhost })) {
      const key = `${vhost}\u0000${e.user}\u0000${e.exchange}`;
      if (this.meta?.has(TOPIC_KEY + key)) await this.meta.delete(TOPIC_KEY + key);
      this.topicByKey.delete(key);
      this.version++;
    }
  }

  // --- internals ----------------------------------------------------------------------------------------

  private load(): void {
    const meta = this.store();
    for (const [, value] of meta.entries(USER_KEY)) {
      const record = value as StoredUser;
      this.users.set(record.name, { record, source: 'store' });
    }
    for (const [key, value] of meta.entries(PERMISSION_KEY)) {
      this.permissionsByKey.set(
        key.slice(PERMISSION_KEY.length),
        new CompiledPermissions(value as PermissionPatterns),
      );
    }
    for (const [key, value] of meta.entries(TOPIC_KEY)) {
      const rest = key.slice(TOPIC_KEY.length);
      const [vhost, user] = rest.split('\u0000');
      this.topicByKey.set(
        rest,
        new CompiledTopicPermissions(value as TopicPatterns, { username: user, vhost }),
      );
    }
  }

  private addConfigUser(d: UserDefinition): void {
    this.users.set(d.name, {
      record: { name: d.name, passwordHash: d.passwordHash ?? '', tags: d.tags ?? [] },
      plainPassword: d.password,
      source: 'config',
    });
    if (d.loopbackOnly) this.loopbackUsers.add(d.name);
    for (const vhost of d.vhosts) {
      const key = `${vhost}\u0000${d.name}`;
      // A stored permission for a config user (set at run time) wins over the config's implied full access.
      if (!this.permissionsByKey.has(key))
        this.permissionsByKey.set(key, new CompiledPermissions(FULL_PERMISSIONS));
    }
    this.version++;
  }

  private info(u: KnownUser): UserInfo {
    return {
      name: u.record.name,
      tags: [...u.record.tags],
      limits: { ...(u.record.limits ?? {}) },
      source: u.source,
      loopbackOnly: this.loopbackUsers.has(u.record.name),
    };
  }

  private requireUser(name: string): void {
    if (!this.users.has(name)) throw new UserAdminError(`no such user '${name}'`, 'not_found');
  }

  private writableUser(name: string, allowMissing: boolean): KnownUser | undefined {
    const known = this.users.get(name);
    if (known?.source === 'config') {
      throw new UserAdminError(`user '${name}' is defined in the config file; change it there`, 'read_only');
    }
    if (!known && !allowMissing) throw new UserAdminError(`no such user '${name}'`, 'not_found');
    return known;
  }

  private store(): MetadataStore {
    if (!this.meta)
      throw new UserAdminError('users from the config file only: nothing can be stored', 'read_only');
    return this.meta;
  }

  /**
   * A config user's plain password is compared directly and RabbitMQ's hashes cost one digest; scrypt checks
   * are remembered (right and wrong answers) and otherwise queue at the login gate.
   */
  private async passwordMatches(
    known: KnownUser,
    password: string,
    address: string,
  ): Promise<boolean | typeof BUSY> {
    if (known.plainPassword !== undefined) {
      return safeEqual(Buffer.from(password), Buffer.from(known.plainPassword));
    }
    const stored = known.record.passwordHash;
    if (stored === '') return false;
    if (isLegacyHash(stored)) return this.checkLegacyHash(known, password);
    const name = known.record.name;
    const digest = createHash('sha256').update(password).digest();
    const key = createHash('sha256')
      .update(name)
      .update('\u0000')
      .update(stored)
      .update(digest)
      .digest('base64');
    const remembered = (): boolean | undefined => {
      const right = this.verified.get(name);
      if (right && safeEqual(right, digest)) return true;
      return this.failed.has(key) ? false : undefined;
    };
    const answered = remembered();
    if (answered !== undefined) return answered;
    const inFlight = this.checking.get(key);
    if (inFlight) return inFlight;
    const check = this.gate
      .run(address, async () => {
        const ok = await verifyPassword(password, stored);
        if (ok) this.verified.set(name, digest);
        else this.rememberFailure(key);
        return ok;
      })
      .finally(() => this.checking.delete(key));
    this.checking.set(key, check);
    return check;
  }

  private rememberFailure(key: string): void {
    if (this.failed.size >= MAX_REMEMBERED_FAILURES) {
      const oldest = this.failed.values().next().value;
      if (oldest !== undefined) this.failed.delete(oldest);
    }
    this.failed.add(key);
  }

  /** A hash imported from RabbitMQ (one digest to check) is replaced by our own at the first login that proves the password. */
  private async checkLegacyHash(known: KnownUser, password: string): Promise<boolean> {
    const stored = known.record.passwordHash;
    const name = known.record.name;
    if (!(await verifyPassword(password, stored))) return false;
    if (known.source === 'store' && this.meta && this.users.get(name) === known) {
      const upgraded = { ...known.record, passwordHash: await hashPassword(password), upgradedFrom: stored };
      await this.meta.put(USER_KEY + name, upgraded).then(
        () => this.users.get(name) === known && this.users.set(name, { ...known, record: upgraded }),
        () => {}, // keep the old hash; it still verifies
      );
    }
    return true;
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
