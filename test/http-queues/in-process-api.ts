import { rm } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { Broker, defaultBrokerOptions } from '../../src/core/broker.js';
import { buildHttpApp } from '../../src/server/http-server.js';
import { createLogger } from '../../src/server/logger.js';
import { tempDir } from '../store/helpers.js';
import { CLIENT_ID } from './queue-api-client.js';

/** The queue API on a real in-process broker, driven with fastify's inject (no socket): fast checks. */
export interface InProcessApi {
  broker: Broker;
  app: FastifyInstance;
  /** Errors the API logged as unexpected (500s): a test asserts there are none. */
  unexpected: unknown[];
  request(options: ApiRequest): Promise<{ status: number; headers: Record<string, unknown>; body: unknown }>;
  close(): Promise<void>;
}

export interface ApiRequest {
  method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';
  url: string;
  /** user:password for Basic auth; default guest:guest; null for none. */
  auth?: string | null;
  headers?: Record<string, string | undefined>;
  payload?: string | Buffer | object;
  remoteAddress?: string;
}

export const basic = (userPassword: string) => `Basic ${Buffer.from(userPassword).toString('base64')}`;

export async function openInProcessApi(vhosts: string[] = ['/']): Promise<InProcessApi> {
  const dir = tempDir('queue-api-');
  const logger = createLogger('silent');
  const broker = await Broker.open({ ...defaultBrokerOptions, dataDir: dir, fsync: false, vhosts }, logger);
  for (const vhost of vhosts) {
    await broker.users.setPermissions('guest', vhost, { configure: '.*', write: '.*', read: '.*' });
  }
  const unexpected: unknown[] = [];
  const app = buildHttpApp({
    logger,
    health: () => ({ status: 'ok', uptimeSeconds: 0 }),
    queueApi: {
      vhost: (name) => broker.vhost(name),
      authenticate: (user, password, address) => broker.authenticate(user, password, address),
      logger: { error: (obj) => unexpected.push(obj) },
    },
  });
  await app.ready();
  return {
    broker,
    app,
    unexpected,
    async request(options) {
      const headers: Record<string, string> = { 'client-id': CLIENT_ID };
      const auth = options.auth === undefined ? 'guest:guest' : options.auth;
      if (auth !== null) headers.authorization = basic(auth);
      let payload = options.payload;
      if (payload !== undefined && typeof payload === 'object' && !Buffer.isBuffer(payload)) {
        payload = JSON.stringify(payload);
        headers['content-type'] = 'application/json';
      } else if (payload !== undefined) headers['content-type'] = 'application/json';
      for (const [name, value] of Object.entries(options.headers ?? {})) {
        if (value === undefined) delete headers[name.toLowerCase()];
        else headers[name.toLowerCase()] = value;
      }
      const res = await app.inject({
        method: options.method,
        url: options.url,
        headers,
        payload: payload as string | Buffer | undefined,
        remoteAddress: options.remoteAddress,
      });
      let body: unknown;
      if (res.body.length > 0) {
        try {
          body = JSON.parse(res.body);
        } catch {
          body = res.body;
        }
      }
      return { status: res.statusCode, headers: res.headers, body };
    },
    async close() {
      await app.close();
      await broker.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
