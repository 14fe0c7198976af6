/**
 * Per-user and per-vhost limits over the management API, as RabbitMQ serves them:
 *
 *   GET    /api/user-limits                [{user, value: {max-connections?, max-channels?}}]
 *   GET    /api/user-limits/:user          one user's, [] when none
 *   PUT    /api/user-limits/:user/:name    {value: N} (negative = no limit): 204 (administrator)
 *   DELETE /api/user-limits/:user/:name    204 (administrator)
 *   GET    /api/vhost-limits               [{vhost, value: {max-connections?, max-queues?}}]
 *   GET    /api/vhost-limits/:vhost        one vhost's, [] when none
 *   PUT    /api/vhost-limits/:vhost/:name  {value: N}: 204 (administrator)
 *   DELETE /api/vhost-limits/:vhost/:name  204 (administrator)
 *
 * Lists show what the user may see: every vhost to administrators and monitoring users, else the vhosts
 * it has permissions in; every user's limits to administrators, else its own.
 */
import type { FastifyInstance } from 'fastify';
import type { AuditActor } from '../core/audit.js';
import {
  ApiError,
  isAdministrator,
  limitValueFromBody,
  type ManagementUser,
  maySeeVhost,
  notFound,
  type RouteContext,
} from './management-context.js';

interface LimitSubjects {
  /** 'user' or 'vhost': the path segment and the JSON field naming the subject. */
  kind: 'user' | 'vhost';
  all(): Array<{ name: string; limits: object }>;
  /** The subject's limits, or undefined when it does not exist. */
  limitsOf(name: string): object | undefined;
  maySee(user: ManagementUser, name: string): boolean;
  set(actor: AuditActor, name: string, limit: string, value: unknown): Promise<void>;
  clear(actor: AuditActor, name: string, limit: string): Promise<void>;
}

function registerLimits(scope: FastifyInstance, ctx: RouteContext, subjects: LimitSubjects): void {
  const { kind } = subjects;
  const base = `/api/${kind}-limits`;
  const options = ctx.routeOptions;
  const json = (name: string, limits: object) => ({ [kind]: name, value: limits });
  const known = (name: string): object => {
    const limits = subjects.limitsOf(name);
    if (limits === undefined) throw notFound(`no ${kind} '${name}'`);
    return limits;
  };
  type One = { Params: { subject: string } };
  type Limit = { Params: { subject: string; name: string } };

  scope.get(base, options, async (request) => {
    const user = ctx.userOf(request);
    return subjects
      .all()
      .filter((s) => Object.keys(s.limits).length > 0 && subjects.maySee(user, s.name))
      .map((s) => json(s.name, s.limits));
  });

  scope.get<One>(`${base}/:subject`, options, async (request) => {
    const user = ctx.userOf(request);
    const { subject } = request.params;
    if (!subjects.maySee(user, subject)) {
      throw new ApiError(403, 'access_refused', `user '${user.name}' has no access to ${kind} '${subject}'`);
    }
    const limits = known(subject);
    return Object.keys(limits).length > 0 ? [json(subject, limits)] : [];
  });

  scope.put<Limit>(`${base}/:subject/:name`, options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { subject, name } = request.params;
    known(subject);
    await subjects.set(ctx.actorOf(request), subject, name, limitValueFromBody(request.body));
    return reply.code(204).send();
  });

  scope.delete<Limit>(`${base}/:subject/:name`, options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { subject, name } = request.params;
    known(subject);
    await subjects.clear(ctx.actorOf(request), subject, name);
    return reply.code(204).send();
  });
}

export function registerLimitRoutes(scope: FastifyInstance, ctx: RouteContext): void {
  const { admin } = ctx.deps;
  registerLimits(scope, ctx, {
    kind: 'user',
    all: () => admin.users.listUsers(),
    limitsOf: (name) => admin.users.getUser(name)?.limits,
    maySee: (user, name) => isAdministrator(user) || user.name === name,
    set: (actor, name, limit, value) => admin.setUserLimit(actor, name, limit, value),
    clear: (actor, name, limit) => admin.clearUserLimit(actor, name, limit),
  });
  registerLimits(scope, ctx, {
    kind: 'vhost',
    all: () => admin.vhosts.listVhosts(),
    limitsOf: (name) => admin.vhosts.vhostInfo(name)?.limits,
    maySee: maySeeVhost,
    set: (actor, name, limit, value) => admin.setVhostLimit(actor, name, limit, value),
    clear: (actor, name, limit) => admin.clearVhostLimit(actor, name, limit),
  });
}
