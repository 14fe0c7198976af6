import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { access } from '../../core/authorization.js';
import type { ClassicQueue, QueuedMessage } from '../../core/classic-queue.js';
import { messageIdOf, offsetOfMessageId } from '../../core/message-id.js';
import { claimsOf } from '../../core/queue-claims.js';
import { appendDurably } from './append.js';
import { positiveInt } from './dead-letter-queue.js';
import { integerField, isJsonObject, parseJsonBody, requestBody } from './json-body.js';
import { queueApiDefaults, queueApiLimits } from './limits.js';
import {
  claimCountOf,
  claimOf,
  type LoadedMessage,
  load,
  type MessageJson,
  messageJson,
} from './message-reader.js';
import { ageSeconds, bodyOf, PostedMessages, posterOf } from './message-view.js';
import { boolParam, intParam, listParam, type Query, queryString, stringParam } from './query-params.js';
import { declareQueue, findQueue } from './queue-access.js';
import type { QueueApiRoutes } from './queue-api.js';
import { invalidBody, invalidRequest, notFound, QueueApiError } from './queue-api-error.js';
import type { QueueApiContext } from './request-context.js';

/** Messages: post (batch), list (markers, echo, include_claimed), get and delete by ids, pop, one by id. */

type MessagesRequest = FastifyRequest<{
  Params: { queue_name: string; message_id?: string };
  Querystring: Query;
}>;

/** Ready or held positions a list request may examine: bounds the reads when filters skip most messages. */
const LIST_SCAN_LIMIT = 1000;

/** What Python's uuid.UUID() accepts as a claim id (anything else cannot name a claim). */
const CLAIM_ID = /^(urn:uuid:)?\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i;

const unableToDelete = (status: number, description: string) =>
  new QueueApiError(status, 'Unable to delete', description);

export function registerMessageRoutes(routes: QueueApiRoutes): void {
  routes.add(
    'POST',
    '/queues/:queue_name/messages',
    async (request, reply, ctx) => postMessages(request as MessagesRequest, ctx, reply),
    queueApiLimits.maxMessagesPostBytes,
  );

  routes.add('GET', '/queues/:queue_name/messages', async (request, _reply, ctx) => {
    const r = request as MessagesRequest;
    access.readQueue(ctx.principal, ctx.project, r.params.queue_name);
    const ids = listParam(r.query, 'ids');
    return ids === undefined ? listMessages(r, ctx) : messagesByIds(r, ctx, ids);
  });

  routes.add('DELETE', '/queues/:queue_name/messages', async (request, reply, ctx) => {
    const r = request as MessagesRequest;
    const name = r.params.queue_name;
    access.readQueue(ctx.principal, ctx.project, name);
    const ids = listParam(r.query, 'ids');
    const pop = intParam(r.query, 'pop');
    if (pop !== undefined && ids !== undefined) {
      throw invalidRequest('pop and id params cannot be present together in the delete request.');
    }
    if (pop === undefined && ids === undefined) {
      throw invalidRequest(
        'The request should have either "ids" or "pop" parameter in the request, to be able to delete.',
      );
    }
    const max = queueApiLimits.maxMessagesPerClaimOrPop;
    if (pop !== undefined && !(pop > 0 && pop <= max)) {
      throw invalidRequest(`Pop value must be at least 1 and may not be greater than ${max}.`);
    }
    const pageMax = queueApiLimits.maxMessagesPerPage;
    if (ids !== undefined && !(ids.length > 0 && ids.length <= pageMax)) {
      throw invalidRequest(`ids parameter should have at least 1 and not greater than ${pageMax} values.`);
    }
    const queue = findQueue(ctx, name);
    if (pop !== undefined) return { messages: queue === undefined ? [] : await popMessages(queue, pop) };
    // Zaqar deletes listed messages whether claimed or not (without message_delete_with_claim_id).
    if (queue !== undefined) for (const id of ids ?? []) deleteQueued(queue, offsetOfMessageId(queue.id, id));
    return reply.code(204).send();
  });

  routes.add('GET', '/queues/:queue_name/messages/:message_id', async (request, _reply, ctx) => {
    const r = request as MessagesRequest;
    const name = r.params.queue_name;
    const id = r.params.message_id ?? '';
    access.readQueue(ctx.principal, ctx.project, name);
    const queue = findQueue(ctx, name);
    if (queue === undefined) throw notFound(`Queue ${name} does not exist for project ${ctx.project}`);
    const at = locateId(queue, id);
    const m = at === undefined ? undefined : await load(queue, at);
    if (m === undefined)
      throw notFound(`Message ${id} does not exist in queue ${name} for project ${ctx.project}`);
    return messageJson(queue, queuePath(name), m, Date.now());
  });

  routes.add('DELETE', '/queues/:queue_name/messages/:message_id', async (request, reply, ctx) => {
    const r = request as MessagesRequest;
    const name = r.params.queue_name;
    access.readQueue(ctx.principal, ctx.project, name);
    const queue = findQueue(ctx, name);
    const at = queue === undefined ? undefined : locateId(queue, r.params.message_id ?? '');
    if (queue !== undefined && at !== undefined) deleteOne(queue, at, stringParam(r.query, 'claim_id'));
    return reply.code(204).send();
  });
}

const queuePath = (name: string) => `/v2/queues/${name}`;

function locateId(queue: ClassicQueue, id: string): QueuedMessage | undefined {
  const offset = offsetOfMessageId(queue.id, id);
  return offset === undefined ? undefined : queue.locate(offset);
}

async function postMessages(
  request: MessagesRequest,
  ctx: QueueApiContext,
  reply: { code(n: number): { header(k: string, v: string): { send(b: unknown): unknown } } },
): Promise<unknown> {
  const name = request.params.queue_name;
  access.publish(ctx.principal, ctx.project, '');
  const existing = findQueue(ctx, name);
  const metadata = existing?.metadata ?? {};
  const defaultTtl = positiveInt(metadata._default_message_ttl) ?? queueApiDefaults.messageTtl;
  const queueMax = positiveInt(metadata._max_messages_post_size);
  const length = Number(request.headers['content-length'] ?? Number.NaN);
  if (queueMax !== undefined && length > Math.min(queueMax, queueApiLimits.maxMessagesPostBytes)) {
    const max = Math.min(queueMax, queueApiLimits.maxMessagesPostBytes);
    throw invalidRequest(
      `Message collection size is too large. The max size for current queue is ${max}. It is calculated by max size = min(max_messages_post_size_config: ${queueApiLimits.maxMessagesPostBytes}, max_messages_post_size_queue: ${queueMax}).`,
    );
  }
  const document = parseJsonBody(requestBody(request));
  if (!isJsonObject(document) || !('messages' in document)) {
    throw invalidRequest('No messages were found in the request body.');
  }
  const posted = document.messages;
  if (!Array.isArray(posted)) throw invalidBody('Document type not supported.');
  // A message's own delay counts only on a queue with a default delay (Zaqar ignores it elsewhere).
  const queueDelay = positiveInt(metadata._default_message_delay);
  const checked = posted.map((m) => {
    if (!isJsonObject(m)) throw invalidBody('Document type not supported.');
    const ttl = integerField(m, 'ttl', defaultTtl);
    if (!('body' in m)) throw invalidBody('Missing "body" field.');
    const delay = queueDelay === undefined ? 0 : integerField(m, 'delay', queueDelay);
    return { ttl, body: m.body, delay };
  });
  if (checked.length === 0) throw invalidRequest('No messages to enqueu.');
  const { minMessageTtl, maxMessageTtl, maxMessageDelay } = queueApiLimits;
  for (const m of checked) {
    if (!(m.ttl >= minMessageTtl && m.ttl <= maxMessageTtl)) {
      throw invalidRequest(
        `The TTL for a message may not exceed ${maxMessageTtl} seconds, and must be at least ${minMessageTtl} seconds long.`,
      );
    }
    if (!(m.delay >= 0 && m.delay <= maxMessageDelay)) {
      throw invalidRequest(
        `The Delay TTL for a message may not exceed ${maxMessageDelay} seconds,and must be at least 0 seconds long.`,
      );
    }
  }
  const queue = existing ?? (await declareQueue(ctx, name)).queue;
  const now = Date.now();
  const build = new PostedMessages(name, ctx.clientId, now);
  const offsets = await appendDurably(
    queue,
    checked.map((m) => build.message(m.body, m.ttl)),
    checked.map((m) => (m.delay > 0 ? now + m.delay * 1000 : 0)),
  );
  const ids = offsets.map((offset) => messageIdOf(queue.id, offset));
  const path = `${queuePath(name)}/messages`;
  return reply
    .code(201)
    .header('Location', `${path}?ids=${ids.join(',')}`)
    .send({ resources: ids.map((id) => `${path}/${id}`) });
}

async function listMessages(request: MessagesRequest, ctx: QueueApiContext): Promise<unknown> {
  const query = request.query;
  const name = request.params.queue_name;
  const marker = stringParam(query, 'marker');
  const limit = intParam(query, 'limit');
  const echo = boolParam(query, 'echo');
  const includeClaimed = boolParam(query, 'include_claimed');
  const includeDelayed = boolParam(query, 'include_delayed');
  const max = queueApiLimits.maxMessagesPerPage;
  if (limit !== undefined && !(limit > 0 && limit <= max)) {
    throw invalidRequest(`Limit must be at least 1 and may not be greater than ${max}.`);
  }
  const queue = findQueue(ctx, name);
  if (queue === undefined) return { messages: [], links: [] };
  const after = marker === undefined ? -1 : (offsetOfMessageId(queue.id, marker) ?? -1);
  const candidates: QueuedMessage[] = [];
  // Zaqar lists delayed messages only when asked, on queues that delay (on others nothing is delayed).
  const delaying = positiveInt(queue.metadata._default_message_delay) !== undefined;
  queue.forEachQueued(
    after,
    includeClaimed === true,
    (m) => {
      candidates.push(m);
      return candidates.length < LIST_SCAN_LIMIT;
    },
    !delaying || includeDelayed === true,
  );
  const now = Date.now();
  const found: LoadedMessage[] = [];
  const want = limit ?? queueApiDefaults.messagesPerPage;
  for (const at of candidates) {
    if (found.length >= want) break;
    const m = await load(queue, at);
    if (m === undefined) continue;
    if (echo !== true && posterOf(m.message) === ctx.clientId) continue;
    found.push(m);
  }
  const messages: MessageJson[] = found.map((m) => messageJson(queue, queuePath(name), m, now));
  if (messages.length === 0) return { messages: [], links: [] };
  const params: Array<[string, string | number | boolean]> = [];
  if (marker !== undefined) params.push(['marker', marker]);
  if (limit !== undefined) params.push(['limit', limit]);
  if (echo !== undefined) params.push(['echo', echo]);
  if (includeClaimed !== undefined) params.push(['include_claimed', includeClaimed]);
  // Zaqar sets include_delayed=true on a queue without a default delay, whatever was asked.
  if (!delaying) params.push(['include_delayed', true]);
  else if (includeDelayed !== undefined) params.push(['include_delayed', includeDelayed]);
  const next = messages[messages.length - 1].id;
  if (marker !== undefined) params[0][1] = next;
  else params.push(['marker', next]);
  return { messages, links: [{ rel: 'next', href: `${queuePath(name)}/messages${queryString(params)}` }] };
}

async function messagesByIds(
  request: MessagesRequest,
  ctx: QueueApiContext,
  ids: string[],
): Promise<unknown> {
  const name = request.params.queue_name;
  const max = queueApiLimits.maxMessagesPerPage;
  if (!(ids.length > 0 && ids.length <= max)) {
    throw invalidRequest(`Limit must be at least 1 and may not be greater than ${max}.`);
  }
  const queue = findQueue(ctx, name);
  const now = Date.now();
  const messages: MessageJson[] = [];
  if (queue !== undefined) {
    for (const id of ids) {
      const at = locateId(queue, id);
      const m = at === undefined ? undefined : await load(queue, at);
      if (m !== undefined) messages.push(messageJson(queue, queuePath(name), m, now));
    }
  }
  if (messages.length === 0) {
    const listed = `[${ids.map((id) => `'${id}'`).join(', ')}]`;
    throw notFound(`No messages with IDs: ${listed} found in the queue ${name} for project ${ctx.project}.`);
  }
  return { messages };
}

/** Takes up to `limit` messages for good, oldest first (Zaqar's pop: a claim deleted at once). */
async function popMessages(queue: ClassicQueue, limit: number): Promise<unknown[]> {
  const claimId = randomUUID();
  const now = Date.now();
  const popped: unknown[] = [];
  while (popped.length < limit) {
    const taken = await queue.get(true);
    if (taken === null) break;
    popped.push({
      id: messageIdOf(queue.id, taken.offset),
      age: ageSeconds(taken.message, now),
      ttl: claimsOf(queue).ttlSecondsOf(taken.offset, taken.expiresAt, taken.message.timestamp),
      body: bodyOf(taken.message),
      claim_id: claimId,
      claim_count: claimCountOf(queue, taken.offset, false),
    });
    claimsOf(queue).forgetMessage(taken.offset);
  }
  return popped;
}

function deleteQueued(queue: ClassicQueue, offset: number | undefined): void {
  if (offset === undefined) return;
  const at = queue.locate(offset);
  if (at === undefined) return;
  if (at.held) queue.ack(offset);
  else queue.removeUnheld(offset);
  claimsOf(queue).forgetMessage(offset);
}

/** Zaqar's rules for deleting one message, with or without the claim that holds it. */
function deleteOne(queue: ClassicQueue, at: QueuedMessage, claimId: string | undefined): void {
  const now = Date.now();
  if (claimId === undefined) {
    if (at.held)
      throw unableToDelete(403, 'This message is claimed; it cannot be deleted without a valid claim ID.');
  } else {
    if (!CLAIM_ID.test(claimId))
      throw unableToDelete(400, 'The specified claim does not exist or has expired.');
    if (!at.held)
      throw unableToDelete(400, 'A claim was specified, but the message is not currently claimed.');
    if (claimOf(at, now)?.id !== claimId) {
      if (claimsOf(queue).find(claimId, now) === undefined) {
        throw unableToDelete(400, 'The specified claim does not exist or has expired.');
      }
      throw unableToDelete(403, 'This message is claimed; it cannot be deleted without a valid claim ID.');
    }
  }
  deleteQueued(queue, at.offset);
}
