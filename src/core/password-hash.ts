import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Stored password hashes. EventterMQ makes only one kind:
 *   scrypt:<salt base64>:<key base64>      Node's default cost (N=16384, r=8, p=1), 16-byte salt, 32-byte key
 * and also verifies the salted hashes RabbitMQ exports in its definitions, so users moved over keep their
 * passwords; such a hash is replaced by an scrypt one at the user's first successful login:
 *   rabbit-sha256:<base64 of 4-byte salt + SHA-256(salt + password)>   (rabbit_password_hashing_sha256)
 *   rabbit-sha512:<...>                                                 (rabbit_password_hashing_sha512)
 *   rabbit-md5:<...>                                                    (rabbit_password_hashing_md5)
 */

const SCRYPT_SHAPE = /^scrypt:([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;
const RABBIT_SHAPE = /^rabbit-(sha256|sha512|md5):([A-Za-z0-9+/]+={0,2})$/;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds keep a mistyped hash from turning every login into a huge key derivation.
const MIN_SALT_BYTES = 8;
const MIN_KEY_BYTES = 16;
const MAX_PART_BYTES = 128;
const RABBIT_SALT_BYTES = 4;
const DIGEST_BYTES = { sha256: 32, sha512: 64, md5: 16 } as const;

/** RabbitMQ's hashing_algorithm names and our prefixes for them. */
export const RABBIT_HASHING_ALGORITHMS: Readonly<Record<string, keyof typeof DIGEST_BYTES>> = {
  rabbit_password_hashing_sha256: 'sha256',
  rabbit_password_hashing_sha512: 'sha512',
  rabbit_password_hashing_md5: 'md5',
};

/** Why a stored hash is unusable, or undefined when it is well-formed. */
export function passwordHashProblem(text: string): string | undefined {
  const rabbit = RABBIT_SHAPE.exec(text);
  if (rabbit) {
    const algorithm = rabbit[1] as keyof typeof DIGEST_BYTES;
    const bytes = Buffer.from(rabbit[2], 'base64').length;
    return bytes === RABBIT_SALT_BYTES + DIGEST_BYTES[algorithm]
      ? undefined
      : `a rabbit-${algorithm} hash must decode to ${RABBIT_SALT_BYTES + DIGEST_BYTES[algorithm]} bytes`;
  }
  const match = SCRYPT_SHAPE.exec(text);
  if (!match) return 'must look like scrypt:<salt base64>:<key base64>';
  const salt = Buffer.from(match[1], 'base64').length;
  const key = Buffer.from(match[2], 'base64').length;
  if (salt < MIN_SALT_BYTES || salt > MAX_PART_BYTES) {
    return `salt must decode to ${MIN_SALT_BYTES}..${MAX_PART_BYTES} bytes`;
  }
  if (key < MIN_KEY_BYTES || key > MAX_PART_BYTES)
    return `key must decode to ${MIN_KEY_BYTES}..${MAX_PART_BYTES} bytes`;
  return undefined;
}

/** Whether the hash is one we would rather replace with a fresh scrypt hash after a successful login. */
export function isLegacyHash(text: string): boolean {
  return text.startsWith('rabbit-');
}

/** Hashes a password with a fresh random salt, on the libuv thread pool rather than the event loop. */
export function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, (err, key) =>
      err ? reject(err) : resolve(`scrypt:${salt.toString('base64')}:${key.toString('base64')}`),
    );
  });
}

/** Checks password against a stored hash in constant time per comparison; false for malformed hashes. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (passwordHashProblem(stored) !== undefined) return false;
  const rabbit = RABBIT_SHAPE.exec(stored);
  if (rabbit) {
    const all = Buffer.from(rabbit[2], 'base64');
    const salt = all.subarray(0, RABBIT_SALT_BYTES);
    const digest = createHash(rabbit[1]).update(salt).update(password, 'utf8').digest();
    return safeEqual(digest, all.subarray(RABBIT_SALT_BYTES));
  }
  const [, a, b] = stored.split(':');
  const expected = Buffer.from(b, 'base64');
  return safeEqual(await scryptAsync(password, Buffer.from(a, 'base64'), expected.length), expected);
}

/** The hashing_algorithm name our scrypt hashes are exported under (RabbitMQ has no scrypt). */
export const EVENTTER_HASHING_ALGORITHM = 'eventter_password_hashing_scrypt';

/** RabbitMQ's exported form of a hash ({password_hash, hashing_algorithm}), where it has one. */
export function toRabbitHash(stored: string): { password_hash: string; hashing_algorithm: string } {
  const rabbit = RABBIT_SHAPE.exec(stored);
  if (rabbit) return { password_hash: rabbit[2], hashing_algorithm: `rabbit_password_hashing_${rabbit[1]}` };
  // The field keeps our own format and algorithm name, for a re-import into EventterMQ.
  return { password_hash: stored, hashing_algorithm: EVENTTER_HASHING_ALGORITHM };
}

/**
 * The stored hash for an exported {password_hash, hashing_algorithm} (toRabbitHash's inverse), or why it
 * cannot be used: an algorithm we cannot verify, or a hash of the wrong shape.
 */
export function fromRabbitHash(
  passwordHash: string,
  algorithm: string,
): { stored: string } | { problem: string } {
  let stored: string;
  if (algorithm === EVENTTER_HASHING_ALGORITHM) stored = passwordHash;
  else if (Object.hasOwn(RABBIT_HASHING_ALGORITHMS, algorithm)) {
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(passwordHash)) return { problem: 'password_hash is not base64' };
    stored = `rabbit-${RABBIT_HASHING_ALGORITHMS[algorithm]}:${passwordHash}`;
  } else {
    const known = [...Object.keys(RABBIT_HASHING_ALGORITHMS), EVENTTER_HASHING_ALGORITHM].join(', ');
    return {
      problem: `hashing algorithm ${JSON.stringify(algorithm)} is not supported (supported: ${known})`,
    };
  }
  const problem = passwordHashProblem(stored);
  return problem === undefined
    ? { stored }
    : { problem: `password_hash is not a valid ${algorithm} hash: ${problem}` };
}

export function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function scryptAsync(password: string, salt: Buffer, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, (err, key) => (err ? reject(err) : resolve(key))),
  );
}
