import { mkdtemp, rm } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, defaultBrokerOptions } from '../../src/core/broker.js';
import type { PermissionPatterns } from '../../src/core/permission-table.js';
import type { UserLimits } from '../../src/core/users.js';
import { AmqpServer } from '../../src/protocols/amqp091/amqp-server.js';
import type { AmqpLimits } from '../../src/protocols/amqp091/connection.js';
import { createLogger } from '../../src/server/logger.js';

/**
 * A broker and its AMQP listener in the test's own process, for tests that administer users, permissions,
 * vhosts and limits through the core while clients talk to it over real sockets.
 */
export interface InProcessBroker {
  broker: Broker;
  server: AmqpServer;
  port: number;
  /** amqp://user:password@host:port/vhost, the vhost URL-encoded. */
  url(user: string, password: string, vhost?: string, host?: string): string;
  /** Creates (or replaces) a stored user with permissions on one vhost. */
  addUser(
    name: string,
    password: string,
    permissions?: PermissionPatterns,
    options?: { vhost?: string; limits?: UserLimits },
  ): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_LIMITS: AmqpLimits = {
  frameMax: 131072,
  channelMax: 2047,
  heartbeat: 0,
  maxMessageSize: 16 * 1024 * 1024,
  handshakeTimeoutMs: 10_000,
  maxConsumersPerChannel: 0,
};

export async function startInProcessBroker(
  options: { limits?: Partial<AmqpLimits>; hosts?: string[] } = {},
): Promise<InProcessBroker> {
  const dataDir = await mkdtemp(join(tmpdir(), 'eventter-inproc-'));
  const logger = createLogger('silent');
  const broker = await Broker.open({ ...defaultBrokerOptions, dataDir, fsync: false }, logger);
  const server = new AmqpServer(
    broker,
    {
      hosts: options.hosts ?? ['127.0.0.1'],
      port: 0,
      maxConnections: 100_000,
      limits: { ...DEFAULT_LIMITS, ...options.limits },
    },
    logger,
  );
  const [bound] = await server.listen();
  return {
    broker,
    server,
    port: bound.port,
    url: (user, password, vhost = '/', host = '127.0.0.1') =>
      `amqp://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${host}:${bound.port}/${encodeURIComponent(vhost)}`,
    async addUser(name, password, permissions, { vhost = '/', limits } = {}) {
      await broker.users.putUser(name, { password, limits });
      if (permissions) await broker.users.setPermissions(name, vhost, permissions);
    },
    async close() {
      await server.stopAccepting();
      await server.closeAllConnections('test over', 2000);
      await broker.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** An IPv4 address of this machine that is not loopback, if it has one (clients from it are not local). */
export function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}
