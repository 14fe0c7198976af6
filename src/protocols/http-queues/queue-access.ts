import { access } from '../../core/authorization.js';
import type { ClassicQueue, QueueMetadata } from '../../core/classic-queue.js';
import { conflict, invalidRequest } from './queue-api-error.js';
import type { QueueApiContext } from './request-context.js';

/**
 * The queues the HTTP API works on: the vhost's ordinary classic queues, whoever declared them. A stream is
 * refused (it has no claims); a queue exclusive to an AMQP connection is that connection's alone.
 */

/** Declares on behalf of HTTP clients: never the owner of an exclusive queue. */
const HTTP_DECLARER = Object.freeze({ protocol: 'http' });

export function findQueue(ctx: QueueApiContext, name: string): ClassicQueue | undefined {
  const queue = ctx.vhost.findQueue(name);
  if (queue === undefined) return undefined;
  if (queue.kind === 'stream') {
    throw invalidRequest(`Queue ${name} is a stream; the queue API serves classic queues.`);
  }
  if (queue.exclusiveOwner !== null) {
    throw conflict(`Queue ${name} is exclusive to the AMQP connection that declared it.`);
  }
  return queue;
}

/** The queue, created (durable, with this metadata) when missing: `created` tells which. */
export async function declareQueue(
  ctx: QueueApiContext,
  name: string,
  metadata: QueueMetadata = {},
  checkPermission = true,
): Promise<{ queue: ClassicQueue; created: boolean }> {
  const existing = findQueue(ctx, name);
  if (existing !== undefined) return { queue: existing, created: false };
  if (checkPermission) access.declareQueue(ctx.principal, ctx.project, name);
  const { queue } = await ctx.vhost.declareQueue(name, { durable: true, owner: HTTP_DECLARER, metadata });
  if (queue.kind === 'stream') throw invalidRequest(`Queue ${name} is a stream.`);
  return { queue, created: true };
}

/** Zaqar's "not found" wording for a queue. */
export const queueMissing = (ctx: QueueApiContext, name: string) =>
  `Queue ${name} does not exist for project ${ctx.project}`;
