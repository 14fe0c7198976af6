/**
 * Permissions and topic permissions over the management API, as RabbitMQ serves them (administrator tag):
 *
 *   GET    /api/permissions                          [{user, vhost, configure, write, read}]
 *   GET    /api/permissions/:vhost/:user             one entry
 *   PUT    /api/permissions/:vhost/:user             {configure, write, read}: 201 created, 204 updated
 *   DELETE /api/permissions/:vhost/:user             204
 *   GET    /api/vhosts/:vhost/permissions            a vhost's entries
 *   GET    /api/topic-permissions                    [{user, vhost, exchange, write, read}]
 *   GET    /api/topic-permissions/:vhost/:user       a user's entries in a vhost
 *   PUT    /api/topic-permissions/:vhost/:user       {exchange, write, read}: 201 (the user's first in the
 *                                                    vhost), 204
 *   DELETE /api/topic-permissions/:vhost/:user       204: all of them, or one with ?exchange=NAME
 *   GET    /api/vhosts/:vhost/topic-permissions      a vhost's entries
 *
 * Patterns are regular expressions; one that is invalid, longer than 1024 characters or could backtrack
 * catastrophically is refused with 400 and the reason. An unknown user or vhost answers 404.
 */
import type { FastifyInstance } from 'fastify';
import type { PermissionEntry, TopicPermissionEntry } from '../core/users.js';
import {
  badRequest,
  knownUser,
  knownVhost,
  notFound,
  objectBody,
  type RouteContext,
  stringField,
} from './management-context.js';

export function permissionJson(e: PermissionEntry) {
  return { user: e.user, vhost: e.vhost, configure: e.configure, write: e.write, read: e.read };
}

export function topicPermissionJson(e: TopicPermissionEntry) {
  return { user: e.user, vhost: e.vhost, exchange: e.exchange, write: e.write, read: e.read };
}

export function registerPermissionRoutes(scope: FastifyInstance, ctx: RouteContext): void {
  const { admin } = ctx.deps;
  const options = ctx.routeOptions;
  type Pair = { Params: { vhost: string; user: string } };
  type Vhost = { Params: { vhost: string } };
  /** Both must exist, or 404. */
  const knownPair = (vhost: string, user: string): void => {
    knownVhost(admin, vhost);
    knownUser(admin, user);
  };

  scope.get('/api/permissions', options, async (request) => {
    ctx.requireAdministrator(request);
    return admin.users.listPermissions().map(permissionJson);
  });

  scope.get<Pair>('/api/permissions/:vhost/:user', options, async (request) => {
    ctx.requireAdministrator(request);
    const { vhost, user } = request.params;
    knownPair(vhost, user);
    const [entry] = admin.users.listPermissions({ user, vhost });
    if (!entry) throw notFound(`user '${user}' has no permissions in vhost '${vhost}'`);
    return permissionJson(entry);
  });

  scope.put<Pair>('/api/permissions/:vhost/:user', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { vhost, user } = request.params;
    knownPair(vhost, user);
    const fields = objectBody(request.body, 'configure, write and read');
    const patterns = {
      configure: stringField(fields, 'configure', true),
      write: stringField(fields, 'write', true),
      read: stringField(fields, 'read', true),
    };
    const outcome = await admin.setPermissions(ctx.actorOf(request), user, vhost, patterns);
    return reply.code(outcome === 'created' ? 201 : 204).send();
  });

  scope.delete<Pair>('/api/permissions/:vhost/:user', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { vhost, user } = request.params;
    knownPair(vhost, user);
    if (!(await admin.clearPermissions(ctx.actorOf(request), user, vhost))) {
      throw notFound(`user '${user}' has no permissions in vhost '${vhost}'`);
    }
    return reply.code(204).send();
  });

  scope.get<Vhost>('/api/vhosts/:vhost/permissions', options, async (request) => {
    ctx.requireAdministrator(request);
    knownVhost(admin, request.params.vhost);
    return admin.users.listPermissions({ vhost: request.params.vhost }).map(permissionJson);
  });

  scope.get('/api/topic-permissions', options, async (request) => {
    ctx.requireAdministrator(request);
    return admin.users.listTopicPermissions().map(topicPermissionJson);
  });

  scope.get<Pair>('/api/topic-permissions/:vhost/:user', options, async (request) => {
    ctx.requireAdministrator(request);
    const { vhost, user } = request.params;
    knownPair(vhost, user);
    const entries = admin.users.listTopicPermissions({ user, vhost });
    if (entries.length === 0) throw notFound(`user '${user}' has no topic permissions in vhost '${vhost}'`);
    return entries.map(topicPermissionJson);
  });

  scope.put<Pair>('/api/topic-permissions/:vhost/:user', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { vhost, user } = request.params;
    knownPair(vhost, user);
    const fields = objectBody(request.body, 'exchange, write and read');
    const exchange = stringField(fields, 'exchange', true);
    const patterns = { write: stringField(fields, 'write', true), read: stringField(fields, 'read', true) };
    const actor = ctx.actorOf(request);
    const outcome = await admin.setTopicPermissions(actor, user, vhost, exchange, patterns);
    return reply.code(outcome === 'created' ? 201 : 204).send();
  });

  scope.delete<Pair & { Querystring: { exchange?: string } }>(
    '/api/topic-permissions/:vhost/:user',
    options,
    async (request, reply) => {
      ctx.requireAdministrator(request);
      const { vhost, user } = request.params;
      knownPair(vhost, user);
      const { exchange } = request.query;
      if (exchange !== undefined && typeof exchange !== 'string') throw badRequest('give one exchange');
      if (!(await admin.clearTopicPermissions(ctx.actorOf(request), user, vhost, exchange))) {
        throw notFound(`user '${user}' has no such topic permissions in vhost '${vhost}'`);
      }
      return reply.code(204).send();
    },
  );

  scope.get<Vhost>('/api/vhosts/:vhost/topic-permissions', options, async (request) => {
    ctx.requireAdministrator(request);
    knownVhost(admin, request.params.vhost);
    return admin.users.listTopicPermissions({ vhost: request.params.vhost }).map(topicPermissionJson);
  });
}
