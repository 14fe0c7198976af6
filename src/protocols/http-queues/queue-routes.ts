import type { FastifyRequest } from 'fastify';
import { access } from '../../core/authorization.js';
import type { ClassicQueue } from '../../core/classic-queue.js';
import { messageIdOf } from '../../core/message-id.js';
import { isJsonObject, type JsonObject, parseJsonBody, requestBody } from './json-body.js';
import { queueApiDefaults, queueApiLimits } from './limits.js';
import { claimCountOf, claimOf, type LoadedMessage, load, ttlOf } from './message-reader.js';
import { ageSeconds, bodyOf, createdIso, messageHref } from './message-view.js';
import { boolParam, intParam, type Query, queryString, stringParam } from './query-params.js';
import { declareQueue, findQueue } from './queue-access.js';
import type { QueueApiRoutes } from './queue-api.js';
import { invalidBody, invalidRequest, notFound, QueueApiError } from './queue-api-error.js';
import {
  applyPatch,
  metadataProblem,
  PATCH_CONTENT_TYPE,
  parsePatch,
  withReservedDefaults,
} from './queue-metadata.js';
import { isQueueApiName, type QueueApiContext } from './request-context.js';

/** Queues: list, create (PUT), metadata (GET, PATCH), delete, stats, purge. */

type QueueRequest = FastifyRequest<{ Params: { queue_name: string }; Querystring: Query }>;

const PURGEABLE = ['messages', 'subscriptions'];

export function registerQueueRoutes(routes: QueueApiRoutes): void {
  routes.add('GET', '/queues', async (request, _reply, ctx) => listQueues(request as QueueRequest, ctx));

  routes.add(
    'PUT',
    '/queues/:queue_name',
    async (request, reply, ctx) => {
      const name = (request as QueueRequest).params.queue_name;
      access.declareQueue(ctx.principal, ctx.project, name);
      // Zaqar reads a body only when Content-Length is not 0 (the official client sends 0 with a JSON type).
      const raw = requestBody(request);
      const metadata = raw === undefined || raw.length === 0 ? {} : parseMetadata(raw);
      const problem = metadataProblem(metadata);
      if (problem !== undefined) throw invalidRequest(problem);
      checkDeadLetterAccess(ctx, name, metadata);
      const { created } = await declareQueue(ctx, name, metadata);
      return reply
        .code(created ? 201 : 204)
        .header('Location', request.url.split('?')[0])
        .send();
    },
    queueApiLimits.maxQueueMetadataBytes,
  );

  routes.add('GET', '/queues/:queue_name', async (request, _reply, ctx) => {
    // Zaqar answers a queue that does not exist (yet) with the defaults: queues are made on first use.
    const queue = findQueue(ctx, (request as QueueRequest).params.queue_name);
    return withReservedDefaults(queue?.metadata ?? {});
  });

  routes.add(
    'PATCH',
    '/queues/:queue_name',
    async (request, _reply, ctx) => {
      const name = (request as QueueRequest).params.queue_name;
      access.declareQueue(ctx.principal, ctx.project, name);
      if (request.headers['content-type'] !== PATCH_CONTENT_TYPE) {
        throw new QueueApiError(
          415,
          `Accepted media type for PATCH: {'Accept-Patch': '${PATCH_CONTENT_TYPE}'}.`,
          `Send the changes as ${PATCH_CONTENT_TYPE}.`,
          { 'Accept-Patch': PATCH_CONTENT_TYPE },
        );
      }
      const raw = requestBody(request);
      if (raw === undefined || raw.length === 0)
        throw invalidBody('PATCH body could not be empty for update.');
      const changes = parsePatch(parseJsonBody(raw));
      const queue = findQueue(ctx, name);
      if (queue === undefined) throw notFound(`Queue ${name} does not exist for project ${ctx.project}`);
      const metadata = applyPatch(queue.metadata, changes);
      const problem = metadataProblem(metadata);
      if (problem !== undefined) throw invalidBody(problem);
      checkDeadLetterAccess(ctx, name, metadata);
      await ctx.vhost.setQueueMetadata(queue, metadata);
      return withReservedDefaults(metadata);
    },
    queueApiLimits.maxQueueMetadataBytes,
  );

  routes.add('DELETE', '/queues/:queue_name', async (request, reply, ctx) => {
    const name = (request as QueueRequest).params.queue_name;
    access.deleteQueue(ctx.principal, ctx.project, name);
    if (findQueue(ctx, name) !== undefined) {
      await ctx.vhost.deleteQueue(name, { owner: ctx });
    }
    return reply.code(204).send();
  });

  routes.add('GET', '/queues/:queue_name/stats', async (request, _reply, ctx) => {
    const name = (request as QueueRequest).params.queue_name;
    return { messages: await queueStats(ctx, name, `/v2/queues/${name}`) };
  });

  routes.add('POST', '/queues/:queue_name/purge', async (request, reply, ctx) => {
    const name = (request as QueueRequest).params.queue_name;
    access.purgeQueue(ctx.principal, ctx.project, name);
    let types = PURGEABLE;
    const raw = requestBody(request);
    if (raw !== undefined && raw.length > 0) {
      const document = parseJsonBody(raw);
      if (!isJsonObject(document) || !('resource_types' in document)) {
        throw invalidRequest('Post body must contain key "resource_types".');
      }
      const requested = document.resource_types;
      if (!Array.isArray(requested) || requested.some((t) => !PURGEABLE.includes(t as string))) {
        throw invalidRequest(`Resource types must be a sub set of {'messages', 'subscriptions'}.`);
      }
      types = requested as string[];
    }
    // Like Zaqar's purge (which pops), claimed messages stay: only ready ones go.
    if (types.includes('messages')) findQueue(ctx, name)?.purge();
    return reply.code(204).send();
  });
}

/**
 * Naming a dead-letter queue lets claims write into it: as for a RabbitMQ dead-letter exchange, that takes
 * read on this queue and write on the exchange the moved messages go through (the default one).
 */
function checkDeadLetterAccess(ctx: QueueApiContext, name: string, metadata: JsonObject): void {
  if (metadata._dead_letter_queue) access.createQueue(ctx.principal, ctx.project, name, '');
}

function parseMetadata(raw: Buffer): JsonObject {
  const document = parseJsonBody(raw);
  if (!isJsonObject(document)) throw invalidBody('Document type not supported.');
  return document;
}

async function listQueues(request: QueueRequest, ctx: QueueApiContext): Promise<unknown> {
  const query = request.query;
  const marker = stringParam(query, 'marker');
  const limit = intParam(query, 'limit');
  const detailed = boolParam(query, 'detailed');
  const name = stringParam(query, 'name');
  const withCount = boolParam(query, 'with_count');
  if (limit !== undefined && !(limit > 0 && limit <= queueApiLimits.maxQueuesPerPage)) {
    throw invalidRequest(`Limit must be at least 1 and no greater than ${queueApiLimits.maxQueuesPerPage}.`);
  }
  const all: ClassicQueue[] = [];
  for (const queue of ctx.vhost.allQueues()) {
    if (queue.kind === 'queue' && queue.exclusiveOwner === null && isQueueApiName(queue.name))
      all.push(queue);
  }
  all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // Zaqar's SQL store ignores the name filter; so do we (it is still echoed in the links).
  const page = all
    .filter((q) => marker === undefined || q.name > marker)
    .slice(0, limit ?? queueApiDefaults.queuesPerPage);
  const queues = page.map((q) => {
    const href = `/v2/queues/${q.name}`;
    return detailed
      ? { name: q.name, metadata: withReservedDefaults(q.metadata), href }
      : { name: q.name, href };
  });
  const params: Array<[string, string | number | boolean]> = [];
  if (marker !== undefined) params.push(['marker', marker]);
  if (limit !== undefined) params.push(['limit', limit]);
  if (detailed !== undefined) params.push(['detailed', detailed]);
  if (name !== undefined) params.push(['name', name]);
  if (withCount !== undefined) params.push(['with_count', withCount]);
  const next = page.length > 0 ? page[page.length - 1].name : (marker ?? '');
  if (marker !== undefined) params[0][1] = next;
  else params.push(['marker', next]);
  const body: Record<string, unknown> = {
    queues,
    links: queues.length > 0 ? [{ rel: 'next', href: `/v2/queues${queryString(params)}` }] : [],
  };
  if (withCount && all.length > 0) body.count = all.length;
  return body;
}

interface StatsMessage {
  age: number;
  ttl: number;
  body: unknown;
  claim_id: string | null;
  claim_count: number;
  created: string;
  href: string;
}

/** Zaqar's stats: free (ready), claimed (held), total, and the oldest and newest messages in full. */
async function queueStats(ctx: QueueApiContext, name: string, queuePath: string): Promise<unknown> {
  const queue = findQueue(ctx, name);
  if (queue === undefined) return { claimed: 0, free: 0, total: 0 };
  const range = queue.offsetRange();
  const free = queue.messageCount + queue.delayedCount; // Zaqar counts delayed messages as free
  const claimed = queue.unackedCount;
  const stats: Record<string, unknown> = { claimed, free, total: free + claimed };
  if (range === undefined) return stats;
  const now = Date.now();
  const describe = async (offset: number): Promise<StatsMessage | undefined> => {
    const at = queue.locate(offset);
    const m: LoadedMessage | undefined = at === undefined ? undefined : await load(queue, at);
    if (m === undefined) return undefined;
    return {
      age: ageSeconds(m.message, now),
      ttl: ttlOf(queue, m),
      body: bodyOf(m.message),
      claim_id: claimOf(m, now)?.id ?? null,
      claim_count: claimCountOf(queue, m.offset, m.held),
      created: createdIso(m.message),
      href: messageHref(queuePath, messageIdOf(queue.id, m.offset)),
    };
  };
  const [newest, oldest] = await Promise.all([describe(range.highest), describe(range.lowest)]);
  if (newest !== undefined && oldest !== undefined) {
    stats.newest = newest;
    stats.oldest = oldest;
  }
  return stats;
}
