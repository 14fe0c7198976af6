import { RABBIT_HASHING_ALGORITHMS } from './password-hash.js';
import { UserAdminError } from './user-validation.js';

/** toRabbitHash's name for our own scrypt hashes, so an export re-imports unchanged. */
export const EVENTTER_HASHING_ALGORITHM = 'eventter_password_hashing_scrypt';

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The stored form of a hash given as RabbitMQ gives it ({password_hash, hashing_algorithm}): the inverse of
 * toRabbitHash. '' stays '' (a user without password). Without an algorithm, an `scrypt:` hash is ours and
 * anything else is RabbitMQ's default, salted SHA-256. The result is still checked by UserRegistry.putUser.
 */
export function storedHashFromRabbit(passwordHash: string, hashingAlgorithm?: string): string {
  if (passwordHash === '') return '';
  if (hashingAlgorithm === EVENTTER_HASHING_ALGORITHM) return passwordHash;
  if (hashingAlgorithm === undefined && passwordHash.startsWith('scrypt:')) return passwordHash;
  const digest = RABBIT_HASHING_ALGORITHMS[hashingAlgorithm ?? 'rabbit_password_hashing_sha256'];
  if (digest === undefined) {
    const known = [...Object.keys(RABBIT_HASHING_ALGORITHMS), EVENTTER_HASHING_ALGORITHM].join(', ');
    throw new UserAdminError(
      `unknown hashing_algorithm ${JSON.stringify(String(hashingAlgorithm).slice(0, 64))} (known: ${known})`,
    );
  }
  if (!BASE64.test(passwordHash)) throw new UserAdminError('password_hash is not base64');
  return `rabbit-${digest}:${passwordHash}`;
}
