import {
  createServer as createTlsServer,
  type SecureContextOptions,
  type TLSSocket,
  type Server as TlsServer,
} from 'node:tls';
import type { Logger } from 'pino';
import { type BoundAddress, listenOnHosts } from './listen-on-hosts.js';
import {
  type ClientCertificatePolicy,
  checkClientCertificate,
  tlsServerOptions,
  type VerifiedPeer,
} from './tls-peer.js';

export interface TlsListenerOptions extends ClientCertificatePolicy {
  hosts: readonly string[];
  port: number;
  /** Certificate, key, CA and minimum version (src/net/tls-credentials.ts). */
  context: SecureContextOptions;
  handshakeTimeoutMs: number;
  /** The protocol's name in logs: amqps, mqtts. */
  protocol: string;
  logger: Logger;
  /** A client whose handshake (and certificate, if asked for) passed. */
  onConnection(socket: TLSSocket, peer: VerifiedPeer | undefined): void;
}

/**
 * A protocol's TLS listener on every host. A client becomes the protocol's connection only once its TLS
 * handshake and client certificate passed; anything else is closed and logged with the reason.
 */
export async function listenTlsOnHosts(
  options: TlsListenerOptions,
): Promise<{ servers: TlsServer[]; addresses: BoundAddress[] }> {
  const { logger, protocol } = options;
  const serverOptions = tlsServerOptions(options.context, options, options.handshakeTimeoutMs);
  const { servers, addresses } = await listenOnHosts(
    () => {
      const server = createTlsServer(serverOptions, (socket) => {
        const check = checkClientCertificate(socket, options);
        if (!check.accepted) {
          logger.info(
            { remote: socket.remoteAddress, reason: check.reason, subject: check.subject },
            'client certificate refused',
          );
          socket.destroy();
          return;
        }
        options.onConnection(socket, check.peer);
      });
      server.on('tlsClientError', (err: NodeJS.ErrnoException, socket) => {
        // A client that hangs up before a handshake (port scans, TCP health checks) is routine.
        const level = err.code === 'ECONNRESET' ? 'debug' : 'info';
        logger[level]({ remote: socket.remoteAddress, reason: err.message }, 'TLS handshake failed');
      });
      server.on('error', (err) => logger.error({ err }, `${protocol} listener error`));
      return server;
    },
    options.hosts,
    options.port,
    (details, message) => logger.warn({ protocol, ...details }, message),
  );
  return { servers: servers as TlsServer[], addresses };
}
