import type { MetadataStore } from '../store/metadata-store.js';
import { VHOST_KEY, type VhostInfo, validateVhostName } from './vhost-info.js';

/** Vhosts as administration changes them: the running Broker, or a stopped broker's metadata store. */
export interface VhostDirectory {
  listVhosts(): VhostInfo[];
  vhostInfo(name: string): VhostInfo | undefined;
  /** Creates a vhost, or replaces the given fields of an existing one. */
  putVhost(name: string, fields?: Partial<Omit<VhostInfo, 'name'>>): Promise<'created' | 'updated'>;
  /** Deletes a vhost with everything in it; false when there was none. */
  deleteVhost(name: string): Promise<boolean>;
}

/** The stored record of a vhost with defaults filled in; undefined when there is none. */
export function storedVhostInfo(meta: MetadataStore, name: string): VhostInfo | undefined {
  const stored = meta.get(VHOST_KEY + name) as Partial<VhostInfo> | undefined;
  if (stored === undefined) return undefined;
  return {
    name,
    description: stored.description ?? '',
    tags: stored.tags ?? [],
    limits: stored.limits ?? {},
  };
}

/** The record to store for a put: the existing one (or an empty one) with the given fields replaced. */
export function mergedVhostInfo(
  name: string,
  existing: VhostInfo | undefined,
  fields: Partial<Omit<VhostInfo, 'name'>>,
): VhostInfo {
  validateVhostName(name);
  return { ...(existing ?? { name, description: '', tags: [], limits: {} }), ...fields, name };
}

/**
 * The vhost records of a stopped broker's data directory. Deleting a vhost also deletes its queues' data,
 * which only the broker core knows how to find: the admin tools open the core for that one operation.
 */
export class StoredVhosts implements VhostDirectory {
  constructor(private readonly meta: MetadataStore) {}

  listVhosts(): VhostInfo[] {
    return this.meta
      .entries(VHOST_KEY)
      .map(([key]) => key.slice(VHOST_KEY.length))
      .sort()
      .map((name) => storedVhostInfo(this.meta, name)!);
  }

  vhostInfo(name: string): VhostInfo | undefined {
    return storedVhostInfo(this.meta, name);
  }

  async putVhost(
    name: string,
    fields: Partial<Omit<VhostInfo, 'name'>> = {},
  ): Promise<'created' | 'updated'> {
    const existing = this.vhostInfo(name);
    await this.meta.put(VHOST_KEY + name, mergedVhostInfo(name, existing, fields));
    return existing ? 'updated' : 'created';
  }

  async deleteVhost(): Promise<boolean> {
    throw new Error('deleting a vhost needs the broker core (Broker.open with offlineAdmin)');
  }
}
