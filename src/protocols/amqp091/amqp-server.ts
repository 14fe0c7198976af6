import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { Broker } from '../../core/broker.js';
import { AmqpConnection, type AmqpLimits } from './connection.js';

export interface AmqpServerOptions {
  hosts: string[];
  port: number;
  maxConnections: number;
  limits: AmqpLimits;
  clusterName?: string;
}

/** Listens for AMQP 0-9-1 clients on every configured address and owns their connections. */
export class AmqpServer {
  private readonly servers: Server[] = [];
  private readonly connections = new Set<AmqpConnection>();
  private blockedReason: string | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly options: AmqpServerOptions,
    private readonly logger: Logger,
  ) {}

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Binds every host; with port 0 the first bind picks the port and the others reuse it. */
  async listen(): Promise<Array<{ host: string; port: number }>> {
    const bound: Array<{ host: string; port: number }> = [];
    let port = this.options.port;
    for (const host of this.options.hosts) {
      const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port, ipv6Only: host.includes(':') }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A machine without IPv6 (or IPv4) still serves on the other family.
        if (this.options.hosts.length > 1 && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) {
          this.logger.warn({ host, port, code }, 'address family unavailable; not listening there');
          continue;
        }
        throw err;
      }
      const address = server.address();
      if (address && typeof address === 'object') {
        port = address.port;
        bound.push({ host, port: address.port });
      }
      server.on('error', (err) => this.logger.error({ err, host }, 'amqp listener error'));
      this.servers.push(server);
    }
    return bound;
  }

  /** Stops accepting new connections; existing ones keep working. */
  async stopAccepting(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /** Sends connection.close (320 CONNECTION_FORCED) to every client and waits for them, bounded. */
  async closeAllConnections(replyText: string, timeoutMs = 5000): Promise<void> {
    const all = [...this.connections].map((c) => c.forceClose(replyText));
    await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  /** Resource alarm: tell publishers to pause (connection.blocked) or resume. */
  setBlocked(reason: string | null): void {
    this.blockedReason = reason;
    for (const c of this.connections) c.setBlocked(reason);
  }

  private accept(socket: Socket): void {
    if (this.connections.size >= this.options.maxConnections) {
      this.logger.warn(
        { remote: socket.remoteAddress, limit: this.options.maxConnections },
        'connection limit reached',
      );
      socket.destroy();
      return;
    }
    const connection = new AmqpConnection(socket, {
      broker: this.broker,
      limits: this.options.limits,
      logger: this.logger,
      clusterName: this.options.clusterName ?? 'eventter',
      onClosed: (c) => this.connections.delete(c),
    });
    if (this.blockedReason !== null) connection.setBlocked(this.blockedReason);
    this.connections.add(connection);
  }
}
