import { hasControlCharacter } from './user-validation.js';

/** Vhosts as administrators see them: the stored record, its bounds, and the events adapters follow. */

export const VHOST_KEY = 'vhost\u0000';
export const MAX_VHOST_NAME_LENGTH = 255;

/** RabbitMQ's per-vhost limits; absent = unlimited. */
export interface VhostLimits {
  'max-connections'?: number;
  'max-queues'?: number;
}

/**
 * A limit as RabbitMQ reads it: a negative or non-integer value means no limit (undefined), 0 allows nothing.
 * The same rule holds for user limits.
 */
export function activeLimit(value: number | undefined): number | undefined {
  return value !== undefined && Number.isInteger(value) && value >= 0 ? value : undefined;
}

export interface VhostInfo {
  name: string;
  description: string;
  tags: string[];
  limits: VhostLimits;
}

export type VhostEvent = { kind: 'created' | 'deleted'; vhost: string };

export class VhostAdminError extends Error {
  override name = 'VhostAdminError';
}

export function validateVhostName(name: string): void {
  if (typeof name !== 'string' || name.length === 0)
    throw new VhostAdminError('a vhost name must not be empty');
  // AMQP short strings carry vhost names in connection.open: 255 bytes at most.
  if (Buffer.byteLength(name) > MAX_VHOST_NAME_LENGTH)
    throw new VhostAdminError(`a vhost name must be at most ${MAX_VHOST_NAME_LENGTH} bytes`);
  if (hasControlCharacter(name))
    throw new VhostAdminError('a vhost name must not contain control characters');
}
