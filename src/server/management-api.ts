/**
 * The management HTTP API, RabbitMQ-shaped so its tools and scripts work unchanged: for now, policies.
 *
 *   GET    /api/policies                  every policy in the vhosts the user may use
 *   GET    /api/policies/:vhost           one vhost's policies ('/' is written %2F)
 *   GET    /api/policies/:vhost/:name     one policy
 *   PUT    /api/policies/:vhost/:name     {pattern, definition, priority?, "apply-to"?}: 201 created, 204 updated
 *   DELETE /api/policies/:vhost/:name     204
 *
 * Streams' consumer groups: see management-streams.ts.
 *
 * Every request needs HTTP basic auth (401 otherwise) by a user with access to the vhost (403 otherwise).
 * Errors are JSON `{error, reason}`, as RabbitMQ's management API answers them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { PolicyRegistry } from '../core/policies.js';
import { type Policy, PolicyValidationError, validatePolicy } from '../core/policy-definition.js';
import type { Principal } from '../core/users.js';
import { basicCredentials } from '../net/http-basic-auth.js';
import type { Logger } from './logger.js';
import { registerStreamRoutes, type StreamAdmin } from './management-streams.js';

/** A logged-in user: access to a vhost means having permissions there, as in RabbitMQ. */
export type ManagementUser = Pick<Principal, 'name' | 'tags' | 'permissions'>;

export interface ManagementDeps {
  policies: PolicyRegistry;
  authenticate(
    user: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<ManagementUser | undefined>;
  /** When given, requests naming a vhost the broker does not have answer 404. */
  vhostExists?(vhost: string): boolean;
  /** Where unexpected (500) failures are logged. */
  logger?: Pick<Logger, 'error'>;
  /** Serves the streams' consumer-group routes when given. */
  streams?: StreamAdmin;
}

/** A policy as the RabbitMQ management API shows it. */
export interface PolicyJson {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': Policy['applyTo'];
  definition: Policy['definition'];
  priority: number;
}

/** A policy body is a few hundred bytes; this leaves room for long patterns and nothing else. */
export const MANAGEMENT_MAX_BODY_BYTES = 64 * 1024;
const REALM = 'Basic realm="EventterMQ Management"';
/** Fields RabbitMQ's own exports carry besides the policy; the path decides them, so they are ignored. */
const IGNORED_BODY_FIELDS = new Set(['vhost', 'name', 'component']);
const BODY_FIELDS = new Set(['pattern', 'definition', 'priority', 'apply-to']);

class ApiError extends Error {
  constructor(
    readonly statusCode: 400 | 401 | 403 | 404,
    readonly error: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const unauthorized = () => new ApiError(401, 'not_authorized', 'Login failed');

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
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError(400, 'bad_request', 'the body must be a JSON object with pattern and definition');
  }
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!BODY_FIELDS.has(key) && !IGNORED_BODY_FIELDS.has(key)) {
      throw new ApiError(400, 'bad_request', `unknown field ${JSON.stringify(key.slice(0, 64))}`);
    }
  }
  if (fields.pattern === undefined) throw new ApiError(400, 'bad_request', 'pattern is required');
  if (fields.definition === undefined) throw new ApiError(400, 'bad_request', 'definition is required');
  return validatePolicy({
    vhost,
    name,
    pattern: fields.pattern,
    applyTo: fields['apply-to'],
    priority: priorityValue(fields.priority),
    definition: fields.definition,
  });
}

/** Registers the management routes in their own scope (own error handler and body parser). */
export function registerManagementRoutes(app: FastifyInstance, deps: ManagementDeps): void {
  const users = new WeakMap<FastifyRequest, ManagementUser>();

  const userOf = (request: FastifyRequest): ManagementUser => {
    const user = users.get(request);
    if (user === undefined) throw unauthorized();
    return user;
  };

  const checkVhost = (request: FastifyRequest, vhost: string): void => {
    const user = userOf(request);
    if (user.permissions(vhost) === undefined) {
      throw new ApiError(403, 'access_refused', `user '${user.name}' has no access to vhost '${vhost}'`);
    }
    if (deps.vhostExists && !deps.vhostExists(vhost)) {
      throw new ApiError(404, 'not_found', `no vhost '${vhost}'`);
    }
  };

  void app.register(async (scope) => {
    // Authentication runs before the body is read: an anonymous client must not make us parse anything.
    scope.addHook('onRequest', async (request) => {
      const credentials = basicCredentials(request.headers.authorization);
      if (credentials === undefined) throw unauthorized();
      const user = await deps.authenticate(
        credentials.user,
        credentials.password,
        request.socket.remoteAddress,
      );
      if (user === undefined) throw unauthorized();
      users.set(request, user);
    });

    // Any content type is read as JSON (curl -d sends form encoding by default); RabbitMQ is as lenient.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
      const text = String(body).trim();
      if (text.length === 0) {
        done(null, undefined);
        return;
      }
      try {
        done(null, JSON.parse(text));
      } catch (err) {
        done(
          new ApiError(400, 'bad_request', `the body is not valid JSON: ${(err as Error).message}`),
          undefined,
        );
      }
    });

    scope.setErrorHandler((err: Error & { statusCode?: number }, _request, reply: FastifyReply) => {
      if (err instanceof ApiError) {
        if (err.statusCode === 401) reply.header('WWW-Authenticate', REALM);
        return reply.code(err.statusCode).send({ error: err.error, reason: err.reason });
      }
      if (err instanceof PolicyValidationError) {
        return reply.code(400).send({ error: 'bad_request', reason: err.message });
      }
      const status =
        err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) deps.logger?.error({ err }, 'management request failed');
      return reply.code(status).send({
        error: status === 500 ? 'internal_error' : 'bad_request',
        reason: status === 500 ? 'internal error' : err.message,
      });
    });

    const routeOptions = { bodyLimit: MANAGEMENT_MAX_BODY_BYTES };

    scope.get('/api/policies', routeOptions, async (request) => {
      const user = userOf(request);
      return deps.policies
        .list()
        .filter((p) => user.permissions(p.vhost) !== undefined)
        .map(policyToJson);
    });

    scope.get<{ Params: { vhost: string } }>('/api/policies/:vhost', routeOptions, async (request) => {
      checkVhost(request, request.params.vhost);
      return deps.policies.list(request.params.vhost).map(policyToJson);
    });

    scope.get<{ Params: { vhost: string; name: string } }>(
      '/api/policies/:vhost/:name',
      routeOptions,
      async (request) => {
        const { vhost, name } = request.params;
        checkVhost(request, vhost);
        const policy = deps.policies.get(vhost, name);
        if (!policy) throw new ApiError(404, 'not_found', `no policy '${name}' in vhost '${vhost}'`);
        return policyToJson(policy);
      },
    );

    scope.put<{ Params: { vhost: string; name: string } }>(
      '/api/policies/:vhost/:name',
      routeOptions,
      async (request, reply) => {
        const { vhost, name } = request.params;
        checkVhost(request, vhost);
        const created = await deps.policies.set(policyFromBody(vhost, name, request.body));
        return reply.code(created ? 201 : 204).send();
      },
    );

    if (deps.streams) {
      registerStreamRoutes(
        scope,
        deps.streams,
        checkVhost,
        (status, error, reason) => new ApiError(status, error, reason),
        routeOptions,
      );
    }

    scope.delete<{ Params: { vhost: string; name: string } }>(
      '/api/policies/:vhost/:name',
      routeOptions,
      async (request, reply) => {
        const { vhost, name } = request.params;
        checkVhost(request, vhost);
        if (!(await deps.policies.clear(vhost, name))) {
          throw new ApiError(404, 'not_found', `no policy '${name}' in vhost '${vhost}'`);
        }
        return reply.code(204).send();
      },
    );
  });
}
