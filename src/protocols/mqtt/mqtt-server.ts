import type { IncomingMessage } from 'node:http';
import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions, Server as TlsServer } from 'node:tls';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Broker } from '../../core/broker.js';
import { type BoundAddress, listenOnHosts } from '../../net/listen-on-hosts.js';
import { listenTlsOnHosts } from '../../net/tls-listeners.js';
import type { ClientCertificatePolicy } from '../../net/tls-peer.js';
import { MqttConnection } from './mqtt-connection.js';
import type { MqttSettings } from './mqtt-options.js';
import { RetainedStore } from './retained-store.js';
import { SessionDirectory } from './session-directory.js';
import { SessionStore } from './session-store.js';

export interface MqttServerOptions extends MqttSettings {
  hosts: string[];
  port: number;
  maxConnections: number;
}

/** The MQTT over TLS listener (8883), with the broker's TLS credentials. */
export interface MqttsListenerOptions extends ClientCertificatePolicy {
  port: number;
  context: SecureContextOptions;
}

/** WebSocket subprotocols of MQTT: `mqtt` (3.1.1 and 5.0) and the older `mqttv3.1`. */
const WEBSOCKET_PROTOCOLS = ['mqtt', 'mqttv3.1'];

/** How often keep-alive deadlines are checked: one sweep for all connections, no timer per connection. */
const KEEP_ALIVE_SWEEP_MS = 500;

/**
 * Listens for MQTT 3.1, 3.1.1 and 5.0 clients (plain TCP and TLS) and owns their connections, the session
 * directory (takeover, expiry) and the retained messages of every vhost.
 */
export class MqttServer {
  private readonly servers: Server[] = [];
  private readonly tlsServers: TlsServer[] = [];
  private readonly connections = new Set<MqttConnection>();
  private readonly sessions: SessionStore;
  private readonly retained: RetainedStore;
  private readonly directory: SessionDirectory;
  private readonly sweep: NodeJS.Timeout;
  private blocked = false;
  private readonly unsubscribeVhosts: () => void;

  constructor(
    private readonly broker: Broker,
    private readonly options: MqttServerOptions,
    private readonly logger: Logger,
  ) {
    const state = broker.protocolState('mqtt');
    this.sessions = new SessionStore(state);
    const { limits } = options;
    this.retained = new RetainedStore(state, {
      maxMessages: limits.maxRetainedMessages,
      maxBytes: limits.maxRetainedBytes,
    });
    this.directory = new SessionDirectory(broker, this.sessions, logger);
    this.sweep = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.checkKeepAlive(now);
    }, KEEP_ALIVE_SWEEP_MS);
    this.sweep.unref();
    this.unsubscribeVhosts = broker.onVhostEvent((event) => {
      if (event.kind !== 'deleted') return;
      this.retained.forgetVhost(event.vhost);
    });
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Loads retained messages and arms the expiry of stored sessions; call before listening. */
  async start(): Promise<void> {
    this.retained.load(this.broker.vhostNames());
    await this.directory.recover(this.options.limits.maxSessionExpirySeconds);
  }

  async listen(): Promise<BoundAddress[]> {
    const { servers, addresses } = await listenOnHosts(
      () => {
        const server = createServer({ noDelay: true }, (socket: Socket) =>
          this.accept(socket, socket.remoteAddress),
        );
        server.on('error', (err) => this.logger.error({ err }, 'mqtt listener error'));
        return server;
      },
      this.options.hosts,
      this.options.port,
      (details, message) => this.logger.warn({ protocol: 'mqtt', ...details }, message),
    );
    this.servers.push(...servers);
    return addresses;
  }

  /** MQTT inside TLS; a connection becomes an MQTT connection once its handshake (and certificate) passed. */
  async listenTls(options: MqttsListenerOptions): Promise<BoundAddress[]> {
    const { servers, addresses } = await listenTlsOnHosts({
      ...options,
      hosts: this.options.hosts,
      handshakeTimeoutMs: this.options.limits.handshakeTimeoutMs,
      protocol: 'mqtts',
      logger: this.logger,
      onConnection: (socket) => this.accept(socket, socket.remoteAddress),
    });
    this.tlsServers.push(...servers);
    this.servers.push(...servers);
    return addresses;
  }

  /**
   * MQTT over WebSocket (the HTTP listener's upgrade requests on /mqtt): binary frames carry the same byte
   * stream as TCP, with the `mqtt` subprotocol.
   */
  webSocketUpgrade(): (request: IncomingMessage, socket: Duplex, head: Buffer) => void {
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.options.limits.maxPacketBytes + 8,
      perMessageDeflate: false,
      handleProtocols: (offered) => WEBSOCKET_PROTOCOLS.find((p) => offered.has(p)) ?? false,
    });
    return (request, socket, head) => {
      wss.handleUpgrade(request, socket, head, (ws) => {
        const stream = createWebSocketStream(ws);
        stream.on('error', () => {});
        this.accept(stream, request.socket.remoteAddress);
      });
    };
  }

  setSecureContext(context: SecureContextOptions): void {
    for (const server of this.tlsServers) server.setSecureContext(context);
  }

  async stopAccepting(): Promise<void> {
    this.unsubscribeVhosts();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /**
   * Ends every connection (MQTT 5 clients get DISCONNECT 0x8B) and waits, bounded, for their sessions to be
   * detached, so persistent sessions record their disconnection before the broker closes.
   */
  async closeAllConnections(_replyText: string, timeoutMs = 5000): Promise<void> {
    clearInterval(this.sweep);
    const all = [...this.connections].map((c) => c.shutDown());
    await Promise.race([Promise.all(all), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
    for (const c of this.connections) c.destroy();
    this.directory.close();
  }

  /** Resource alarm: stop reading from connections that publish, or resume. */
  setBlocked(reason: string | null): void {
    this.blocked = reason !== null;
    for (const c of this.connections) c.setBlocked(this.blocked);
  }

  private accept(socket: Duplex, remoteAddress: string | undefined): void {
    if (this.connections.size >= this.options.maxConnections) {
      this.logger.warn(
        { remote: remoteAddress, limit: this.options.maxConnections },
        'connection limit reached',
      );
      socket.destroy();
      return;
    }
    const connection = new MqttConnection(
      socket,
      {
        broker: this.broker,
        settings: this.options,
        directory: this.directory,
        sessions: this.sessions,
        retained: this.retained,
        logger: this.logger,
        onClosed: (c) => this.connections.delete(c),
      },
      remoteAddress,
    );
    if (this.blocked) connection.setBlocked(true);
    this.connections.add(connection);
  }
}
