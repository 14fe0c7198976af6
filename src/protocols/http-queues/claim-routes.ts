import type { FastifyRequest } from 'fastify';
import { access } from '../../core/authorization.js';
import type { ClassicQueue } from '../../core/classic-queue.js';
import { type ClaimTerms, claimsOf } from '../../core/queue-claims.js';
import { claimLimitOf } from './dead-letter-queue.js';
import { integerField, isJsonObject, type JsonObject, parseJsonBody, requestBody } from './json-body.js';
import { queueApiDefaults, queueApiLimits } from './limits.js';
import { load, type MessageJson, messageJson } from './message-reader.js';
import { intParam, type Query } from './query-params.js';
import { findQueue } from './queue-access.js';
import type { QueueApiRoutes } from './queue-api.js';
import { invalidBody, invalidRequest, notFound } from './queue-api-error.js';
import type { QueueApiContext } from './request-context.js';

/** Claims: create (201 with messages, 204 when none), get, renew (PATCH), release (DELETE). */

type ClaimRequest = FastifyRequest<{
  Params: { queue_name: string; claim_id?: string };
  Querystring: Query;
}>;

export function registerClaimRoutes(routes: QueueApiRoutes): void {
  routes.add('POST', '/queues/:queue_name/claims', async (request, reply, ctx) => {
    const r = request as ClaimRequest;
    const name = r.params.queue_name;
    access.readQueue(ctx.principal, ctx.project, name);
    const limit = intParam(r.query, 'limit');
    // Clients may leave the body out entirely (or send Content-Length: 0): the defaults apply.
    const raw = requestBody(r);
    const terms = claimTerms(raw === undefined || raw.length === 0 ? {} : claimDocument(raw));
    checkTtl(terms.ttlSeconds);
    const max = queueApiLimits.maxMessagesPerClaimOrPop;
    if (limit !== undefined && !(limit > 0 && limit <= max)) {
      throw invalidRequest(`Limit must be at least 1 and may not be greater than ${max}.`);
    }
    checkGrace(terms.graceSeconds, queueApiLimits.minClaimGrace);
    const queue = findQueue(ctx, name);
    const made =
      queue === undefined
        ? undefined
        : await claimsOf(queue).create(
            terms,
            limit ?? queueApiDefaults.messagesPerClaim,
            Date.now(),
            claimLimitOf(ctx, queue),
          );
    if (queue === undefined || made === undefined) return reply.code(204).send();
    const now = Date.now();
    const messages = made.messages.map((taken) =>
      messageJson(
        queue,
        queuePath(name),
        {
          offset: taken.offset,
          expiresAt: heldExpiry(queue, taken.offset),
          held: true,
          owner: made.claim,
          delayedUntil: 0,
          message: taken.message,
        },
        now,
      ),
    );
    return reply
      .code(201)
      .header('Location', `${queuePath(name)}/claims/${made.claim.id}`)
      .send({ messages });
  });

  routes.add('GET', '/queues/:queue_name/claims/:claim_id', async (request, _reply, ctx) => {
    const r = request as ClaimRequest;
    const { queue, claim } = liveClaim(r, ctx);
    const now = Date.now();
    const messages: MessageJson[] = [];
    for (const offset of claimsOf(queue).offsetsOf(claim)) {
      const at = queue.locate(offset);
      const m = at === undefined ? undefined : await load(queue, at);
      if (m !== undefined) messages.push(messageJson(queue, queuePath(r.params.queue_name), m, now));
    }
    return {
      age: claim.ageSeconds(now),
      ttl: claim.ttlSeconds,
      messages,
      href: `${queuePath(r.params.queue_name)}/claims/${claim.id}`,
    };
  });

  routes.add('PATCH', '/queues/:queue_name/claims/:claim_id', async (request, reply, ctx) => {
    const r = request as ClaimRequest;
    access.readQueue(ctx.principal, ctx.project, r.params.queue_name);
    const terms = claimTerms(claimDocument(requestBody(r)));
    checkTtl(terms.ttlSeconds);
    // Zaqar leaves the grace of a renewal unchecked; we only keep it within 0 and the maximum.
    checkGrace(terms.graceSeconds, 0);
    const { queue, claim } = liveClaim(r, ctx);
    claimsOf(queue).renew(claim, terms);
    return reply.code(204).send();
  });

  routes.add('DELETE', '/queues/:queue_name/claims/:claim_id', async (request, reply, ctx) => {
    const r = request as ClaimRequest;
    access.readQueue(ctx.principal, ctx.project, r.params.queue_name);
    const queue = findQueue(ctx, r.params.queue_name);
    const claim = queue === undefined ? undefined : claimsOf(queue).find(r.params.claim_id ?? '');
    if (queue !== undefined && claim !== undefined) claimsOf(queue).release(claim);
    return reply.code(204).send();
  });
}

const queuePath = (name: string) => `/v2/queues/${name}`;

function heldExpiry(queue: ClassicQueue, offset: number): number {
  return queue.locate(offset)?.expiresAt ?? 0;
}

function claimDocument(raw: Buffer | undefined): JsonObject {
  const document = parseJsonBody(raw);
  if (!isJsonObject(document)) throw invalidBody('Document type not supported.');
  return document;
}

function claimTerms(document: JsonObject): ClaimTerms {
  return {
    ttlSeconds: integerField(document, 'ttl', queueApiDefaults.claimTtl),
    graceSeconds: integerField(document, 'grace', queueApiDefaults.claimGrace),
  };
}

function checkTtl(ttl: number): void {
  const { minClaimTtl, maxClaimTtl } = queueApiLimits;
  if (!(ttl >= minClaimTtl && ttl <= maxClaimTtl)) {
    throw invalidRequest(
      `The TTL for a claim may not exceed ${maxClaimTtl} seconds, and must be at least ${minClaimTtl} seconds long.`,
    );
  }
}

function checkGrace(grace: number, min: number): void {
  const { maxClaimGrace } = queueApiLimits;
  if (!(grace >= min && grace <= maxClaimGrace)) {
    throw invalidRequest(
      `The grace for a claim may not exceed ${maxClaimGrace} seconds, and must be at least ${min} seconds long.`,
    );
  }
}

function liveClaim(request: ClaimRequest, ctx: QueueApiContext) {
  const name = request.params.queue_name;
  const id = request.params.claim_id ?? '';
  access.readQueue(ctx.principal, ctx.project, name);
  const queue = findQueue(ctx, name);
  const claim = queue === undefined ? undefined : claimsOf(queue).find(id);
  if (queue === undefined || claim === undefined) {
    throw notFound(`Claim ${id} does not exist in queue ${name} for project ${ctx.project}`);
  }
  return { queue, claim };
}
