import { createServer, type IncomingMessage, type Server as NodeHttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as NodeHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { SecureContextOptions } from 'node:tls';
import Fastify, { type FastifyInstance } from 'fastify';
import { type BoundAddress, closeServers, listenOnHosts } from '../net/listen-on-hosts.js';
import { type QueueApiDeps, registerQueueApi } from '../protocols/http-queues/queue-api.js';
import type { Logger } from './logger.js';
import { type ManagementDeps, registerManagementRoutes } from './management-api.js';

/** A damaged range of a queue's store that recovery skipped: the records in it are lost. */
export interface StorageDamageReport {
  vhost: string;
  queue: string;
  file: string;
  fromByte: number;
  toByte: number;
  /** Lost offsets firstOffset..lastOffset (none when lastOffset < firstOffset). */
  firstOffset: number;
  lastOffset: number;
}

/** Figures the health endpoint reports when the broker offers them. */
export interface HealthStats {
  connections?: number;
  vhosts?: number;
  queues?: number;
  /** Ready plus unacknowledged messages across all queues. */
  messages?: number;
  /** Damage found in the stores since start; its presence makes the status 'degraded' (still HTTP 200). */
  storageDamage?: StorageDamageReport[];
}

export const HEALTH_STAT_NAMES = ['connections', 'vhosts', 'queues', 'messages'] as const;

export interface HealthReport extends HealthStats {
  /** degraded: serving, but recovery found damaged data (see storageDamage); still answered with 200. */
  status: 'ok' | 'degraded' | 'stopping';
  uptimeSeconds: number;
}

export interface HttpServerOptions {
  hosts: readonly string[];
  port: number;
  logger: Logger;
  /** Called per /health request; a throw or rejection makes /health answer 503. */
  health: () => HealthReport | Promise<HealthReport>;
  /** Serves the management API (/api/policies...) when given. */
  management?: ManagementDeps;
  /** Serves the Zaqar v2 queue API (/v2/...) when given. */
  queueApi?: QueueApiDeps;
  /** Serve HTTPS with these credentials (no client certificates asked for). */
  tls?: SecureContextOptions;
  /** Protocols served over WebSocket, by request path (MQTT on /mqtt): each takes the upgrade request. */
  upgrades?: Readonly<Record<string, UpgradeHandler>>;
}

/** Takes over a connection that asked to switch protocols (a WebSocket handshake). */
export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

export interface HttpServer {
  readonly addresses: readonly BoundAddress[];
  /** Reloaded TLS credentials (HTTPS only); open connections keep theirs. */
  setSecureContext(context: SecureContextOptions): void;
  close(): Promise<void>;
}

// Health checks are tiny; anything larger is not for us.
const MAX_BODY_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 10_000;
// Names in management paths are up to 255 bytes, percent-encoded three characters per byte; fastify's
// default (100) would answer 414 before the route could say what is wrong with a long name.
const MAX_PARAM_LENGTH = 1024;

/** Builds the fastify application: routes only, no listening. Exported for in-process tests (inject). */
export function buildHttpApp(
  options: Pick<HttpServerOptions, 'health' | 'logger' | 'management' | 'queueApi'>,
): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: MAX_BODY_BYTES,
    return503OnClosing: true,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  });

  app.get('/health', async (_request, reply) => {
    try {
      const report = await options.health();
      return reply.code(report.status === 'stopping' ? 503 : 200).send(report);
    } catch (err) {
      options.logger.warn({ err }, 'health check failed');
      return reply.code(503).send({ status: 'error' });
    }
  });

  if (options.management) registerManagementRoutes(app, options.management);
  if (options.queueApi) registerQueueApi(app, options.queueApi);

  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'not_found', message: `no route for ${request.method} ${request.url}` });
  });

  app.setErrorHandler((err: { statusCode?: number; message?: string }, _request, reply) => {
    const statusCode = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500;
    if (statusCode >= 500) options.logger.error({ err }, 'http request failed');
    reply
      .code(statusCode)
      .send({ error: statusCode >= 500 ? 'internal_error' : 'bad_request', message: err.message });
  });

  return app;
}

/** Hands an upgrade request to the protocol served on its path; anything else gets 404 and is closed. */
function routeUpgrade(
  upgrades: HttpServerOptions['upgrades'],
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  socket.on('error', () => {});
  const path = (request.url ?? '').split('?')[0];
  const handler = upgrades !== undefined && Object.hasOwn(upgrades, path) ? upgrades[path] : undefined;
  if (handler === undefined) {
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  handler(request, socket, head);
}

/**
 * Serves the HTTP API on every configured host. Fastify routes the requests, but we own the Node servers
 * so one application can listen on several addresses (IPv4 and IPv6 wildcards) at once.
 */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const app = buildHttpApp(options);
  await app.ready();
  let listeners: { servers: NodeHttpServer[]; addresses: BoundAddress[] };
  const { tls } = options;
  const handler = (request: Parameters<typeof app.routing>[0], response: Parameters<typeof app.routing>[1]) =>
    app.routing(request, response);
  try {
    const bound = await listenOnHosts(
      () => {
        const server = tls === undefined ? createServer(handler) : createHttpsServer(tls, handler);
        server.requestTimeout = REQUEST_TIMEOUT_MS;
        server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) =>
          routeUpgrade(options.upgrades, request, socket, head),
        );
        return server;
      },
      options.hosts,
      options.port,
      (details, message) => options.logger.warn({ protocol: 'http', ...details }, message),
    );
    listeners = { servers: bound.servers as NodeHttpServer[], addresses: bound.addresses };
  } catch (err) {
    await app.close();
    throw err;
  }

  return {
    addresses: listeners.addresses,
    setSecureContext(context) {
      if (tls === undefined) return;
      for (const server of listeners.servers) (server as NodeHttpsServer).setSecureContext(context);
    },
    async close() {
      const closed = closeServers(listeners.servers);
      // Idle keep-alive sockets would hold server.close() open; health checks have nothing in flight worth waiting for.
      for (const server of listeners.servers) server.closeAllConnections();
      await closed;
      await app.close();
    },
  };
}
