import { createHash, randomBytes } from 'node:crypto';

/** RabbitMQ's rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt. */
export function rabbitSha256(password: string, salt: Buffer = randomBytes(4)): string {
  return Buffer.concat([salt, createHash('sha256').update(salt).update(password).digest()]).toString(
    'base64',
  );
}
