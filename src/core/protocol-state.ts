import type { MetadataStore } from '../store/metadata-store.js';

const PROTOCOL_STATE_KEY = 'protocol-state\u0000';

/**
 * A protocol adapter's own durable records, per vhost (MQTT sessions and retained messages), kept in the
 * metadata store beside the definitions so they share its batching, fsync and crash recovery. Keys are the
 * adapter's business; values are JSON. Deleting a vhost removes its records with it.
 */
export class ProtocolState {
  private readonly prefix: string;

  constructor(
    private readonly meta: MetadataStore,
    protocol: string,
  ) {
    this.prefix = `${PROTOCOL_STATE_KEY}${protocol}\u0000`;
  }

  /** Every [key, value] of one vhost whose key starts with keyPrefix, sorted by key. */
  entries(vhost: string, keyPrefix = ''): Array<[string, unknown]> {
    const start = this.vhostPrefix(vhost);
    return this.meta.entries(start + keyPrefix).map(([key, value]) => [key.slice(start.length), value]);
  }

  get(vhost: string, key: string): unknown {
    return this.meta.get(this.vhostPrefix(vhost) + key);
  }

  has(vhost: string, key: string): boolean {
    return this.meta.has(this.vhostPrefix(vhost) + key);
  }

  /** Resolves once the record is durable. */
  put(vhost: string, key: string, value: unknown): Promise<void> {
    return this.meta.put(this.vhostPrefix(vhost) + key, value);
  }

  /** Resolves once the removal is durable; removing a missing key is a no-op. */
  async delete(vhost: string, key: string): Promise<void> {
    const full = this.vhostPrefix(vhost) + key;
    if (this.meta.has(full)) await this.meta.delete(full);
  }

  private vhostPrefix(vhost: string): string {
    return `${this.prefix}${vhost}\u0000`;
  }
}

/** Removes every protocol's records of a deleted vhost. */
export async function forgetVhostProtocolState(meta: MetadataStore, vhost: string): Promise<void> {
  for (const [key] of meta.entries(PROTOCOL_STATE_KEY)) {
    const rest = key.slice(PROTOCOL_STATE_KEY.length);
    const protocolEnd = rest.indexOf('\u0000');
    if (rest.startsWith(`${vhost}\u0000`, protocolEnd + 1)) await meta.delete(key);
  }
}
