import { randomBytes, scrypt } from 'node:crypto';

/**
 * Makes and checks the shape of stored password hashes for the config file. The format is the one
 * src/core/users.ts verifies:
 *   scrypt:<salt base64>:<key base64>
 * scrypt with Node's default cost (N=16384, r=8, p=1), a 16-byte random salt and a 32-byte key.
 * Verification itself lives in core (UserRegistry), once.
 */

const HASH_SHAPE = /^scrypt:([A-Za-z0-9+/]+={0,2}):([A-Za-z0-9+/]+={0,2})$/;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
// Bounds keep a mistyped hash from turning every login into a huge key derivation.
const MIN_SALT_BYTES = 8;
const MIN_KEY_BYTES = 16;
const MAX_PART_BYTES = 128;

/** Why a stored hash is unusable, or undefined when it is well-formed. */
export function passwordHashProblem(text: string): string | undefined {
  const match = HASH_SHAPE.exec(text);
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

/** Hashes a password with a fresh random salt, on the libuv thread pool rather than the event loop. */
export function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, (err, key) =>
      err ? reject(err) : resolve(`scrypt:${salt.toString('base64')}:${key.toString('base64')}`),
    );
  });
}
