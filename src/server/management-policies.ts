/**
 * Policies over the management API, as RabbitMQ serves them:
 *
 *   GET    /api/policies                  every policy in the vhosts the user may use
 *   GET    /api/policies/:vhost           one vhost's policies ('/' is written %2F)
 *   GET    /api/policies/:vhost/:name     one policy (policymaker)
 *   PUT    /api/policies/:vhost/:name     {pattern, definition, priority?, "apply-to"?}: 201 created, 204 updated
 *   DELETE /api/policies/:vhost/:name     204 (policymaker)
 *
 * Changes need the policymaker or administrator tag and access to the vhost (administrators reach all).
 */
import type { FastifyInstance } from 'fastify';
import { type Policy, validatePolicy } from '../core/policy-definition.js';
import { badRequest, mayUseVhost, notFound, objectBody, type RouteContext } from './management-context.js';

/** A policy as the RabbitMQ management API shows it. */
export interface PolicyJson {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': Policy['applyTo'];
  definition: Policy['definition'];
  priority: number;
}

/** Fields RabbitMQ's own exports carry besides the policy; the path decides them, so they are ignored. */
const IGNORED_BODY_FIELDS = new Set(['vhost', 'name', 'component']);
const BODY_FIELDS = new Set(['pattern', 'definition', 'priority', 'apply-to']);

export function policyToJson(p: Policy): PolicyJson {
  return {
    vhost: p.vhost,
    name: p.name,
    pattern: p.pattern,
    'apply-to': p.applyTo,
    definition: p.definition,
    priority: p.priority,
  };
}

/** RabbitMQ's UI and some scripts send the priority as a string of digits. */
function priorityValue(value: unknown): unknown {
  return typeof value === 'string' && /^-?\d{1,15}$/.test(value) ? Number(value) : value;
}

function policyFromBody(vhost: string, name: string, body: unknown): Policy {
  const fields = objectBody(body, 'pattern and definition');
  for (const key of Object.keys(fields)) {
    if (!BODY_FIELDS.has(key) && !IGNORED_BODY_FIELDS.has(key)) {
      throw badRequest(`unknown field ${JSON.stringify(key.slice(0, 64))}`);
    }
  }
  if (fields.pattern === undefined) throw badRequest('pattern is required');
  if (fields.definition === undefined) throw badRequest('definition is required');
  return validatePolicy({
    vhost,
    name,
    pattern: fields.pattern,
    applyTo: fields['apply-to'],
    priority: priorityValue(fields.priority),
    definition: fields.definition,
  });
}

export function registerPolicyRoutes(scope: FastifyInstance, ctx: RouteContext): void {
  const { admin } = ctx.deps;
  const options = ctx.routeOptions;
  type Params = { Params: { vhost: string; name: string } };

  scope.get('/api/policies', options, async (request) => {
    const user = ctx.userOf(request);
    return admin.policies
      .list()
      .filter((p) => mayUseVhost(user, p.vhost))
      .map(policyToJson);
  });

  scope.get<{ Params: { vhost: string } }>('/api/policies/:vhost', options, async (request) => {
    ctx.checkVhost(request, request.params.vhost);
    return admin.policies.list(request.params.vhost).map(policyToJson);
  });

  scope.get<Params>('/api/policies/:vhost/:name', options, async (request) => {
    const { vhost, name } = request.params;
    ctx.requirePolicymaker(request);
    ctx.checkVhost(request, vhost);
    const policy = admin.policies.get(vhost, name);
    if (!policy) throw notFound(`no policy '${name}' in vhost '${vhost}'`);
    return policyToJson(policy);
  });

  scope.put<Params>('/api/policies/:vhost/:name', options, async (request, reply) => {
    const { vhost, name } = request.params;
    ctx.requirePolicymaker(request);
    ctx.checkVhost(request, vhost);
    const created = await admin.setPolicy(ctx.actorOf(request), policyFromBody(vhost, name, request.body));
    return reply.code(created ? 201 : 204).send();
  });

  scope.delete<Params>('/api/policies/:vhost/:name', options, async (request, reply) => {
    const { vhost, name } = request.params;
    ctx.requirePolicymaker(request);
    ctx.checkVhost(request, vhost);
    if (!(await admin.clearPolicy(ctx.actorOf(request), vhost, name))) {
      throw notFound(`no policy '${name}' in vhost '${vhost}'`);
    }
    return reply.code(204).send();
  });
}
