import { notAllowed } from './errors.js';
import type { Principal } from './users.js';
import { activeLimit, type VhostLimits } from './vhost-info.js';

/**
 * Every open client connection of every protocol, by vhost and by user: what RabbitMQ's connection and
 * channel tracking does. It enforces the vhost and user limits (max-connections per vhost and per user,
 * max-channels per user across all that user's connections) with RabbitMQ's 530 NOT_ALLOWED texts, and
 * closes the connections of a deleted vhost or user.
 */

/** A connection as the registry sees it. */
export interface TrackedConnection {
  readonly user: string;
  readonly vhost: string;
  /** Ends the connection because the broker must (AMQP: connection.close 320 CONNECTION_FORCED). */
  forceClose(reason: string): void;
}

export class ConnectionRegistry {
  private readonly byVhost = new Map<string, Set<TrackedConnection>>();
  private readonly byUser = new Map<string, Set<TrackedConnection>>();
  private readonly channelsByUser = new Map<string, number>();

  /** `vhostLimits` answers undefined for a vhost that does not exist. */
  constructor(private readonly vhostLimits: (vhost: string) => VhostLimits | undefined) {}

  /**
   * Opening a connection to its vhost, checked in RabbitMQ 3.10's order: the vhost exists, its connection
   * limit, the user's connection limit, then the user's access to the vhost. Throws 530 NOT_ALLOWED.
   */
  admit(connection: TrackedConnection, principal: Principal): void {
    const { vhost } = connection;
    const limits = this.vhostLimits(vhost);
    if (limits === undefined) throw notAllowed(`vhost ${vhost} not found`);
    const user = principal.name;
    const vhostMax = activeLimit(limits['max-connections']);
    if (vhostMax !== undefined && sizeOf(this.byVhost, vhost) >= vhostMax) {
      throw notAllowed(
        `access to vhost '${vhost}' refused for user '${user}': connection limit (${vhostMax}) is reached`,
      );
    }
    const userMax = activeLimit(principal.limits()['max-connections']);
    if (userMax !== undefined && sizeOf(this.byUser, user) >= userMax) {
      throw notAllowed(
        `connection refused for user '${user}': user connection limit (${userMax}) is reached`,
      );
    }
    if (principal.permissions(vhost) === undefined) {
      throw notAllowed(`access to vhost '${vhost}' refused for user '${user}'`);
    }
    addTo(this.byVhost, vhost, connection);
    addTo(this.byUser, connection.user, connection);
  }

  /** The connection closed; idempotent. */
  release(connection: TrackedConnection): void {
    removeFrom(this.byVhost, connection.vhost, connection);
    removeFrom(this.byUser, connection.user, connection);
  }

  /** A channel opens: counted against the user's max-channels over all their connections. Throws 530. */
  openChannel(principal: Principal): void {
    const user = principal.name;
    const open = this.channelsByUser.get(user) ?? 0;
    const max = activeLimit(principal.limits()['max-channels']);
    if (max !== undefined && open >= max) {
      throw notAllowed(
        `number of channels opened for user '${user}' has reached the maximum allowed user limit of (${max})`,
      );
    }
    this.channelsByUser.set(user, open + 1);
  }

  closeChannel(user: string): void {
    const open = this.channelsByUser.get(user) ?? 0;
    if (open <= 1) this.channelsByUser.delete(user);
    else this.channelsByUser.set(user, open - 1);
  }

  connectionsIn(vhost: string): number {
    return sizeOf(this.byVhost, vhost);
  }

  connectionsOf(user: string): number {
    return sizeOf(this.byUser, user);
  }

  channelsOf(user: string): number {
    return this.channelsByUser.get(user) ?? 0;
  }

  /** The vhost was deleted: its connections are told so and closed. */
  closeVhost(vhost: string): void {
    this.forceClose(this.byVhost.get(vhost), `vhost '${vhost}' is deleted`);
  }

  /** The user was deleted: their connections are told so and closed. */
  closeUser(user: string): void {
    this.forceClose(this.byUser.get(user), `user '${user}' is deleted`);
  }

  private forceClose(connections: Set<TrackedConnection> | undefined, reason: string): void {
    for (const c of [...(connections ?? [])]) {
      this.release(c);
      c.forceClose(reason);
    }
  }
}

function sizeOf(map: Map<string, Set<TrackedConnection>>, key: string): number {
  return map.get(key)?.size ?? 0;
}

function addTo(map: Map<string, Set<TrackedConnection>>, key: string, c: TrackedConnection): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(c);
}

function removeFrom(map: Map<string, Set<TrackedConnection>>, key: string, c: TrackedConnection): void {
  const set = map.get(key);
  if (!set?.delete(c)) return;
  if (set.size === 0) map.delete(key);
}
