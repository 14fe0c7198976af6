import { createServer, type Server, type Socket } from 'node:net';
import type { SecureContextOptions, Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import type { Broker } from '../../core/broker.js';
import { type BoundAddress, listenOnHosts } from '../../net/listen-on-hosts.js';
import { listenTlsOnHosts } from '../../net/tls-listeners.js';
import type { ClientCertificatePolicy, VerifiedPeer } from '../../net/tls-peer.js';
import { AmqpConnection, type AmqpLimits } from './connection.js';

export interface AmqpServerOptions {
  hosts: string[];
  port: number;
  maxConnections: number;
  limits: AmqpLimits;
  clusterName?: string;
}

/** The amqps listener: AMQP 0-9-1 inside TLS on its own port. */
export interface AmqpsListenerOptions extends ClientCertificatePolicy {
  port: number;
  /** Certificate, key, CA and minimum version (src/net/tls-credentials.ts). */
  context: SecureContextOptions;
}

/** Listens for AMQP 0-9-1 clients on every configured address and owns their connections. */
export class AmqpServer {
  private readonly servers: Server[] = [];
  private readonly tlsServers: TlsServer[] = [];
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

  /** Binds every host on one port (with port 0 the first bind picks it). */
  async listen(): Promise<BoundAddress[]> {
    const { servers, addresses } = await listenOnHosts(
      () => {
        const server = createServer({ noDelay: true }, (socket) => this.accept(socket));
        server.on('error', (err) => this.logger.error({ err }, 'amqp listener error'));
        return server;
      },
      this.options.hosts,
      this.options.port,
      (details, message) => this.logger.warn(details, message),
    );
    this.servers.push(...servers);
    return addresses;
  }

  /**
   * Binds the amqps listener on every host. A connection becomes an AMQP connection only once its TLS
   * handshake (and client certificate, if asked for) passed; anything else is closed and logged.
   */
  async listenTls(options: AmqpsListenerOptions): Promise<BoundAddress[]> {
    const { servers, addresses } = await listenTlsOnHosts({
      ...options,
      hosts: this.options.hosts,
      handshakeTimeoutMs: this.options.limits.handshakeTimeoutMs,
      protocol: 'amqps',
      logger: this.logger,
      onConnection: (socket, peer) => this.accept(socket, peer),
    });
    this.tlsServers.push(...servers);
    this.servers.push(...servers);
    return addresses;
  }

  /** New credentials for the amqps listeners; connections already open keep theirs. */
  setSecureContext(context: SecureContextOptions): void {
    for (const server of this.tlsServers) server.setSecureContext(context);
  }

  /** Stops accepting new connections; existing ones keep working. */
  async stopAccepting(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /** Sends connection.close (320 CONNECTION_FORCED) to every client and waits for them, bounded. */
  async closeAllConnections(replyText: string, timeoutMs = 5000): Promise<void> {
    const all = [...this.connections].map((c) => c.forceClose(replyText));
    await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    // Clients that never answered close-ok do not hold up shutdown.
    for (const c of this.connections) c.destroy();
  }

  /** Resource alarm: tell publishers to pause (connection.blocked) or resume. */
  setBlocked(reason: string | null): void {
    this.blockedReason = reason;
    for (const c of this.connections) c.setBlocked(reason);
  }

  private accept(socket: Socket, verifiedPeer?: VerifiedPeer): void {
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
      verifiedPeer,
    });
    if (this.blockedReason !== null) connection.setBlocked(this.blockedReason);
    this.connections.add(connection);
  }
}
