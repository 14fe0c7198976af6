import { decodeFieldTable, encodeFieldTable, type FieldTable } from '../codec/field-table.js';
import type { MetadataStore } from '../store/metadata-store.js';
import type { ExchangeType } from './exchange.js';
import { fieldTableKey } from './field-table-key.js';
import type { GroupPositions } from './stream-groups.js';

/**
 * How a vhost's durable definitions (exchanges, queues, bindings) are kept in the metadata store: the record
 * shapes, their keys (`<kind>\0<vhost>\0<name>`), and reading them back after a restart.
 */
export interface StoredExchange {
  type: ExchangeType;
  durable: true;
  autoDelete: boolean;
  internal: boolean;
  arguments: string;
  /** Store id of a delayed-message exchange's held messages. */
  id?: string;
}

export interface StoredQueue {
  id: string;
  autoDelete: boolean;
  arguments: string;
  /** User-defined attributes (the HTTP queue API's metadata), when any were set. */
  metadata?: Record<string, unknown>;
}

export interface StoredBinding {
  source: string;
  destinationKind: 'queue' | 'exchange';
  destination: string;
  routingKey: string;
  arguments: string;
}

export const encodeArgs = (args: FieldTable): string => encodeFieldTable(args).toString('base64');
export const decodeArgs = (s: string): FieldTable => decodeFieldTable(Buffer.from(s, 'base64'), 0).table;

/** Identity of (routing key, arguments): the same binding declared twice is one binding. */
export function bindingKey(routingKey: string, args: FieldTable): string {
  return `${routingKey}\u0000${fieldTableKey(args)}`;
}

export class VHostDefinitions {
  private readonly prefix: string;

  constructor(
    private readonly meta: MetadataStore,
    vhost: string,
  ) {
    this.prefix = `${vhost}\u0000`;
  }

  key(kind: 'exchange' | 'queue', name: string): string {
    return `${kind}\u0000${this.prefix}${name}`;
  }

  /** Holds (claims, delays) of a queue saved at a graceful shutdown, keyed by its store id. */
  holdsKey(queueId: string): string {
    return `holds\u0000${this.prefix}${queueId}`;
  }

  bindingKey(source: string, destinationKind: string, destination: string, key: string): string {
    return `binding\u0000${this.prefix}${source}\u0000${destinationKind}\u0000${destination}\u0000${key}`;
  }

  /** Committed positions of a stream's consumer groups, keyed by the stream's id (not its reusable name). */
  groupPositions(streamId: string): GroupPositions {
    const prefix = `group\u0000${this.prefix}${streamId}\u0000`;
    const meta = this.meta;
    return {
      load: () =>
        new Map(
          meta
            .entries(prefix)
            .map(([k, v]) => [k.slice(prefix.length), (v as { committed: number }).committed]),
        ),
      save: (name, committed) => meta.put(prefix + name, { committed }),
      deleteAll: async (names) => {
        await Promise.all(names.map((n) => meta.delete(prefix + n)));
      },
    };
  }

  exchanges(): Array<[string, StoredExchange]> {
    return this.named('exchange');
  }

  queues(): Array<[string, StoredQueue]> {
    return this.named('queue');
  }

  /** Bindings with the metadata key each is stored under (to drop a dangling one). */
  bindings(): Array<[string, StoredBinding]> {
    return this.meta.entries(`binding\u0000${this.prefix}`) as Array<[string, StoredBinding]>;
  }

  private named<T>(kind: 'exchange' | 'queue'): Array<[string, T]> {
    const start = `${kind}\u0000${this.prefix}`;
    return this.meta.entries(start).map(([k, v]) => [k.slice(start.length), v as T]);
  }
}
