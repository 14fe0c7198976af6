import { createHash, scryptSync, timingSafeEqual } from 'node:crypto';

export interface UserDefinition {
  name: string;
  /** Plain password (fine for dev configs), or a hash: `sha256:<hex>` or `scrypt:<salt-b64>:<hash-b64>`. */
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

  constructor(definitions: UserDefinition[]) {
    for (const d of definitions) this.users.set(d.name, d);
  }

  /** Returns the user, or undefined on unknown name, wrong password or a non-loopback login of a loopback user. */
  authenticate(name: string, password: string, remoteAddress: string | undefined): User | undefined {
    const def = this.users.get(name);
    if (!def) return undefined;
    if (!passwordMatches(def, password)) return undefined;
    if (def.loopbackOnly && !isLoopbackAddress(remoteAddress)) return undefined;
    return { name: def.name, vhosts: new Set(def.vhosts) };
  }
}

function passwordMatches(def: UserDefinition, password: string): boolean {
  if (def.passwordHash) {
    const [scheme, a, b] = def.passwordHash.split(':');
    if (scheme === 'sha256' && a)
      return safeEqual(createHash('sha256').update(password).digest(), Buffer.from(a, 'hex'));
    if (scheme === 'scrypt' && a && b) {
      const expected = Buffer.from(b, 'base64');
      return safeEqual(scryptSync(password, Buffer.from(a, 'base64'), expected.length), expected);
    }
    return false;
  }
  return def.password !== undefined && safeEqual(Buffer.from(password), Buffer.from(def.password));
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
