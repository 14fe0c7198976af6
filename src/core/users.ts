import { createHash, scrypt, timingSafeEqual } from 'node:crypto';

export interface UserDefinition {
  name: string;
  /** Plain password (fine for dev configs), or a hash `scrypt:<salt-b64>:<key-b64>` (eventter hash-password). */
  password?: string;
  passwordHash?: string;
  vhosts: string[];
  /** Only connections from loopback may log in as this user (RabbitMQ's rule for guest). */
  loopbackOnly: boolean;
}

export interface User {
  readonly name: string;
  readonly vhosts: ReadonlySet<string>;
}

export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  if (address === '::1') return true;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.');
}

/** Users known to the broker, checked in constant time per comparison. */
export class UserRegistry {
  private readonly users = new Map<string, UserDefinition>();
  /**
   * SHA-256 of the last password that passed a scrypt check, per user: scrypt costs tens of milliseconds by
   * design, and a reconnecting client should not pay it (nor stall others) every time.
   */
  private readonly verified = new Map<string, Buffer>();

  constructor(definitions: UserDefinition[]) {
    for (const d of definitions) this.users.set(d.name, d);
  }

  /** Resolves to the user, or undefined on unknown name, wrong password or a non-loopback login of a loopback user. */
  async authenticate(
    name: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<User | undefined> {
    const def = this.users.get(name);
    if (!def) return undefined;
    if (!(await this.passwordMatches(def, password))) return undefined;
    if (def.loopbackOnly && !isLoopbackAddress(remoteAddress)) return undefined;
    return { name: def.name, vhosts: new Set(def.vhosts) };
  }

  /**
   * A login the transport vouched for (a verified TLS client certificate naming the user): no password.
   * Undefined on an unknown name or a non-loopback login of a loopback user.
   */
  async authenticateExternal(name: string, remoteAddress: string | undefined): Promise<User | undefined> {
    const def = this.users.get(name);
    if (!def || (def.loopbackOnly && !isLoopbackAddress(remoteAddress))) return undefined;
    return { name: def.name, vhosts: new Set(def.vhosts) };
  }

  private async passwordMatches(def: UserDefinition, password: string): Promise<boolean> {
    if (!def.passwordHash) {
      return def.password !== undefined && safeEqual(Buffer.from(password), Buffer.from(def.password));
    }
    const digest = createHash('sha256').update(password).digest();
    const known = this.verified.get(def.name);
    if (known && safeEqual(known, digest)) return true;
    const [scheme, a, b] = def.passwordHash.split(':');
    let ok = false;
    if (scheme === 'scrypt' && a && b) {
      const expected = Buffer.from(b, 'base64');
      ok = safeEqual(await scryptAsync(password, Buffer.from(a, 'base64'), expected.length), expected);
    }
    if (ok) this.verified.set(def.name, digest);
    return ok;
  }
}

function scryptAsync(password: string, salt: Buffer, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
