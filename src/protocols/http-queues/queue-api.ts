import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { QueueFullError } from '../../core/classic-queue.js';
import { registerClaimRoutes } from './claim-routes.js';
import { homeDocument } from './home-document.js';
import { queueApiLimits } from './limits.js';
import { registerMessageRoutes } from './message-routes.js';
import { fromBrokerError, isBrokerError, QueueApiError } from './queue-api-error.js';
import { registerQueueRoutes } from './queue-routes.js';
import { type ContextDeps, contextOf, type QueueApiContext } from './request-context.js';

/**
 * The OpenStack Zaqar v2 queue API under /v2 on the broker's HTTP listener (docs/http-queues.md). A thin
 * adapter: queues are the vhost's classic queues, claims are leases in core, message ids come from offsets.
 */

export interface QueueApiDeps extends ContextDeps {
  /** Where unexpected (500) failures are logged. */
  logger?: { error(obj: object, msg: string): void };
}

export type QueueApiHandler = (
  request: FastifyRequest,
  reply: FastifyReply,
  ctx: QueueApiContext,
) => Promise<unknown>;

/** Registers routes and remembers their methods, so a known path with another method answers 405. */
export interface QueueApiRoutes {
  add(method: HTTPMethods, url: string, handler: QueueApiHandler, bodyLimit?: number): void;
}

export const API_PREFIX = '/v2';

export function registerQueueApi(app: FastifyInstance, deps: QueueApiDeps): void {
  void app.register(
    async (scope) => {
      const contexts = new WeakMap<FastifyRequest, QueueApiContext>();
      const allowed = new Map<string, string[]>();

      // Bodies are read as bytes and parsed by each route: Zaqar's errors depend on the route.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
      // Authentication and header checks run before any body is read.
      scope.addHook('onRequest', async (request) => {
        if (request.routeOptions.url === undefined) return; // no route: the not-found handler answers
        contexts.set(request, await contextOf(deps, request));
      });
      scope.setErrorHandler((err, request, reply) =>
        sendError(err as Error & { statusCode?: number; code?: string }, request, reply, deps),
      );
      scope.setNotFoundHandler((request, reply) => {
        const methods = allowed.get(routePattern(request.url));
        if (methods !== undefined) {
          reply.header('Allow', methods.join(', '));
          sendApiError(
            reply,
            new QueueApiError(405, '405 Method Not Allowed', `${request.method} is not allowed here.`),
          );
          return;
        }
        sendApiError(
          reply,
          new QueueApiError(404, '404 Not Found', `No resource at ${request.url.split('?')[0]}.`),
        );
      });

      const routes: QueueApiRoutes = {
        add(method, url, handler, bodyLimit = queueApiLimits.maxSmallBodyBytes) {
          let methods = allowed.get(url);
          if (methods === undefined) {
            methods = ['OPTIONS'];
            allowed.set(url, methods);
            const allow = methods;
            // As Zaqar's framework does: OPTIONS on any resource lists its methods.
            scope.options(url, async (_request, reply) => reply.header('Allow', allow.join(', ')).send());
          }
          methods.splice(methods.length - 1, 0, method);
          scope.route({
            method,
            url,
            bodyLimit,
            handler: (request, reply) => {
              const ctx = contexts.get(request);
              if (ctx === undefined) throw new Error('queue API request without a context');
              return handler(request, reply, ctx);
            },
          });
        },
      };

      routes.add('GET', '/', async (_request, reply) =>
        reply
          .type('application/json-home')
          .header('Cache-Control', 'max-age=86400')
          .send(Buffer.from(JSON.stringify(homeDocument()))),
      );
      routes.add('GET', '/ping', async (_request, reply) => reply.code(204).send());
      routes.add('GET', '/health', async (_request, _reply, ctx) => health(ctx));
      registerQueueRoutes(routes);
      registerMessageRoutes(routes);
      registerClaimRoutes(routes);
    },
    { prefix: API_PREFIX },
  );
}

/** The route template a request path would match, for the 405 check: /v2/queues/x/claims/y -> /queues/:queue_name/claims/:claim_id. */
function routePattern(url: string): string {
  const parts = url.split('?')[0].split('/').slice(2); // drop '' and 'v2'
  const names = [null, ':queue_name', null, ':id'];
  const pattern = parts.map((part, i) => {
    if (i === 3) return parts[2] === 'claims' ? ':claim_id' : ':message_id';
    return names[i] ?? part;
  });
  return `/${pattern.join('/')}`;
}

async function health(ctx: QueueApiContext): Promise<unknown> {
  let free = 0;
  let claimed = 0;
  for (const queue of ctx.vhost.allQueues()) {
    if (queue.kind !== 'queue') continue;
    free += queue.messageCount;
    claimed += queue.unackedCount;
  }
  return {
    storage_reachable: true,
    message_volume: { free, claimed, total: free + claimed },
  };
}

function sendApiError(reply: FastifyReply, err: QueueApiError): void {
  for (const [name, value] of Object.entries(err.headers)) reply.header(name, value);
  reply.code(err.statusCode).send(err.withBody ? err.body : undefined);
}

function sendError(
  err: Error & { statusCode?: number; code?: string },
  request: FastifyRequest,
  reply: FastifyReply,
  deps: QueueApiDeps,
): void {
  if (err instanceof QueueApiError) return sendApiError(reply, err);
  if (isBrokerError(err)) return sendApiError(reply, fromBrokerError(err));
  if (err instanceof QueueFullError) {
    return sendApiError(reply, new QueueApiError(409, 'Queue is full', err.message));
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return sendApiError(reply, bodyTooLarge(request));
  const status = err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return sendApiError(reply, new QueueApiError(status, 'Invalid request', err.message));
  }
  deps.logger?.error({ err, url: request.url }, 'queue API request failed');
  sendApiError(reply, new QueueApiError(500, 'Internal server error', 'The request could not be completed.'));
}

/** A body over the route's limit, worded as Zaqar words each limit. */
function bodyTooLarge(request: FastifyRequest): QueueApiError {
  const route = request.routeOptions.url ?? '';
  if (route.endsWith('/messages')) {
    return new QueueApiError(
      400,
      'Invalid API request',
      `Message collection size is too large. Max size ${queueApiLimits.maxMessagesPostBytes}`,
    );
  }
  if (route.endsWith('/queues/:queue_name')) {
    return new QueueApiError(
      400,
      'Invalid API request',
      `Queue metadata is too large. Max size: ${queueApiLimits.maxQueueMetadataBytes}`,
    );
  }
  return new QueueApiError(
    400,
    'Invalid request body',
    `Request body is too large. Max size ${queueApiLimits.maxSmallBodyBytes}`,
  );
}
