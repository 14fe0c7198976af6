/**
 * Vhosts over the management API, as RabbitMQ serves them:
 *
 *   GET    /api/vhosts                       the vhosts the user may see (all for administrators and
 *                                            monitoring users), with message counts
 *   GET    /api/vhosts/:name                 one vhost (administrator)
 *   PUT    /api/vhosts/:name                 {description?, tags?}: 201 created, 204 updated (administrator);
 *                                            as in RabbitMQ, a PUT replaces both, and the creating user gets
 *                                            full permissions on a new vhost
 *   DELETE /api/vhosts/:name                 204, with everything in it (administrator)
 *
 * Vhost limits: management-limits.ts.
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { VhostInfo } from '../core/vhost-info.js';
import {
  knownVhost,
  maySeeVhost,
  notFound,
  objectBody,
  type RouteContext,
  stringField,
  tagsField,
} from './management-context.js';

/** The cluster_state key: RabbitMQ shows its node names (rabbit@host) there. */
const NODE_NAME = `eventter@${hostname()}`;

export function registerVhostRoutes(scope: FastifyInstance, ctx: RouteContext): void {
  const { admin, messageCounts } = ctx.deps;
  const options = ctx.routeOptions;
  const vhostJson = (info: VhostInfo) => {
    const counts = messageCounts?.(info.name);
    return {
      name: info.name,
      description: info.description,
      tags: info.tags,
      default_queue_type: 'classic',
      metadata: { description: info.description, tags: info.tags },
      tracing: false,
      cluster_state: { [NODE_NAME]: 'running' },
      ...(counts && {
        messages: counts.ready + counts.unacknowledged,
        messages_ready: counts.ready,
        messages_unacknowledged: counts.unacknowledged,
      }),
    };
  };
  type Name = { Params: { name: string } };

  scope.get('/api/vhosts', options, async (request) => {
    const user = ctx.userOf(request);
    return admin.vhosts
      .listVhosts()
      .filter((v) => maySeeVhost(user, v.name))
      .map(vhostJson);
  });

  scope.get<Name>('/api/vhosts/:name', options, async (request) => {
    ctx.requireAdministrator(request);
    return vhostJson(knownVhost(admin, request.params.name));
  });

  scope.put<Name>('/api/vhosts/:name', options, async (request, reply) => {
    const user = ctx.requireAdministrator(request);
    // An empty body is fine: `curl -X PUT .../api/vhosts/name` creates a vhost.
    const fields = request.body === undefined ? {} : objectBody(request.body, 'description and tags');
    const change = {
      description: stringField(fields, 'description', false) ?? '',
      tags: tagsField(fields) ?? [],
    };
    const outcome = await admin.putVhost(ctx.actorOf(request), request.params.name, change, user.name);
    return reply.code(outcome === 'created' ? 201 : 204).send();
  });

  scope.delete<Name>('/api/vhosts/:name', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { name } = request.params;
    if (!(await admin.deleteVhost(ctx.actorOf(request), name))) throw notFound(`no vhost '${name}'`);
    return reply.code(204).send();
  });
}
