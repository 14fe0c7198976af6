import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Broker, defaultBrokerOptions } from '../../src/core/broker.js';
import type { UserDefinition } from '../../src/core/users.js';
import { buildHttpApp } from '../../src/server/http-server.js';
import { createLogger } from '../../src/server/logger.js';
import { registerManagementRoutes } from '../../src/server/management-api.js';

/**
 * A real Broker on a temporary data directory with the management API in front of it, driven in-process
 * (fastify inject, or listen() for clients that need a socket). Its log records are kept for assertions.
 */
export interface ManagementFixture {
  broker: Broker;
  app: FastifyInstance;
  dataDir: string;
  logs: Array<Record<string, unknown>>;
  request(method: string, url: string, options?: RequestOptions): Promise<Reply>;
  /** Listens on an ephemeral loopback port; resolves to the base URL. */
  listen(): Promise<string>;
  close(): Promise<void>;
}

export interface RequestOptions {
  /** user:password; default guest:guest; null sends no credentials. */
  auth?: string | null;
  body?: unknown;
  contentType?: string;
}

export interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests probe the API's JSON replies field by field
  json: any;
  text: string;
  headers: Record<string, unknown>;
}

export const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

/** Config-file users for tests of authorisation: one per management tag, plain passwords (no scrypt). */
export const TAGGED_USERS: UserDefinition[] = [
  { name: 'guest', password: 'guest', vhosts: ['/', 'shop'], loopbackOnly: true, tags: ['administrator'] },
  { name: 'bob', password: 'secret', vhosts: ['shop'], loopbackOnly: false, tags: ['management'] },
  { name: 'pol', password: 'p', vhosts: ['shop'], loopbackOnly: false, tags: ['policymaker'] },
  { name: 'mon', password: 'm', vhosts: [], loopbackOnly: false, tags: ['monitoring'] },
  { name: 'plain', password: 'x', vhosts: ['/'], loopbackOnly: false, tags: [] },
];

export async function openManagementFixture(
  options: { users?: UserDefinition[]; vhosts?: string[] } = {},
): Promise<ManagementFixture> {
  const dataDir = await mkdtemp(join(tmpdir(), 'eventter-mgmt-'));
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', {
    write: (line: string) => {
      logs.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  const users = options.users ?? TAGGED_USERS;
  const broker = await Broker.open(
    {
      ...defaultBrokerOptions,
      dataDir,
      fsync: false,
      users,
      createDefaultUser: users.length === 0,
      vhosts: options.vhosts ?? ['/', 'shop', 'empty'],
    },
    logger,
  );
  const app = buildHttpApp({ logger, health: () => ({ status: 'ok', uptimeSeconds: 0 }) });
  registerManagementRoutes(app, {
    admin: broker.admin,
    authenticate: (user, password, address) => broker.authenticate(user, password, address),
    messageCounts: (vhost) => broker.messageCounts(vhost),
    streams: broker.streams,
    logger,
  });
  await app.ready();
  return {
    broker,
    app,
    dataDir,
    logs,
    async request(method, url, requestOptions = {}) {
      const auth = requestOptions.auth === undefined ? 'guest:guest' : requestOptions.auth;
      const headers: Record<string, string> = {};
      if (auth !== null) headers.authorization = basic(auth);
      if (requestOptions.body !== undefined) {
        headers['content-type'] = requestOptions.contentType ?? 'application/json';
      }
      const response = await app.inject({
        method: method as 'GET',
        url,
        headers,
        payload:
          requestOptions.body === undefined
            ? undefined
            : typeof requestOptions.body === 'string'
              ? requestOptions.body
              : JSON.stringify(requestOptions.body),
      });
      let json: unknown;
      try {
        json = response.body === '' ? undefined : JSON.parse(response.body);
      } catch {
        json = undefined;
      }
      return { status: response.statusCode, json, text: response.body, headers: response.headers };
    },
    listen: () => app.listen({ host: '127.0.0.1', port: 0 }),
    async close() {
      await app.close();
      await broker.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The audit lines of a fixture's log. */
export function auditLogs(fixture: ManagementFixture): Array<Record<string, unknown>> {
  return fixture.logs.filter((r) => r.audit === true);
}
