/**
 * Vhosts and their limits over the management API, as RabbitMQ serves them:
 *
 *   GET    /api/vhosts                       the vhosts the user may see (all for administrators and
 *                                            monitoring users), with message counts
 *   GET    /api/vhosts/:name                 one vhost (administrator)
 *   PUT    /api/vhosts/:name                 {description?, tags?}: 201 created, 204 updated (administrator);
 *                                            as in RabbitMQ, a PUT replaces both, and the creating user gets
 *                                            full permissions on a new vhost
 *   DELETE /api/vhosts/:name                 204, with everything in it (administrator)
 *   GET    /api/vhost-limits                 [{vhost, value: {max-connections?, max-queues?}}]
 *   GET    /api/vhost-limits/:vhost          one vhost's limits
 *   PUT    /api/vhost-limits/:vhost/:name    {value: N} (negative = no limit): 204 (administrator)
 *   DELETE /api/vhost-limits/:vhost/:name    204 (administrator)
 */
import { hostname } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { VhostInfo } from '../core/vhost-info.js';
import {
  ApiError,
  limitValueFromBody,
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
  const knownVhost = (name: string): VhostInfo => {
    const info = admin.vhosts.vhostInfo(name);
    if (!info) throw notFound(`no vhost '${name}'`);
    return info;
  };
  const limitsJson = (info: VhostInfo) => ({ vhost: info.name, value: info.limits });
  type Name = { Params: { name: string } };
  type Limit = { Params: { vhost: string; name: string } };

  scope.get('/api/vhosts', options, async (request) => {
    const user = ctx.userOf(request);
    return admin.vhosts
      .listVhosts()
      .filter((v) => maySeeVhost(user, v.name))
      .map(vhostJson);
  });

  scope.get<Name>('/api/vhosts/:name', options, async (request) => {
    ctx.requireAdministrator(request);
    return vhostJson(knownVhost(request.params.name));
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

  scope.get('/api/vhost-limits', options, async (request) => {
    const user = ctx.userOf(request);
    return admin.vhosts
      .listVhosts()
      .filter((v) => Object.keys(v.limits).length > 0 && maySeeVhost(user, v.name))
      .map(limitsJson);
  });

  scope.get<{ Params: { vhost: string } }>('/api/vhost-limits/:vhost', options, async (request) => {
    const user = ctx.userOf(request);
    const { vhost } = request.params;
    if (!maySeeVhost(user, vhost)) {
      throw new ApiError(403, 'access_refused', `user '${user.name}' has no access to vhost '${vhost}'`);
    }
    const info = knownVhost(vhost);
    return Object.keys(info.limits).length > 0 ? [limitsJson(info)] : [];
  });

  scope.put<Limit>('/api/vhost-limits/:vhost/:name', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { vhost, name } = request.params;
    knownVhost(vhost);
    await admin.setVhostLimit(ctx.actorOf(request), vhost, name, limitValueFromBody(request.body));
    return reply.code(204).send();
  });

  scope.delete<Limit>('/api/vhost-limits/:vhost/:name', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { vhost, name } = request.params;
    knownVhost(vhost);
    await admin.clearVhostLimit(ctx.actorOf(request), vhost, name);
    return reply.code(204).send();
  });
}
