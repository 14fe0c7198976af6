/**
 * The management HTTP API, RabbitMQ-shaped so its tools (rabbitmqadmin, management clients) and scripts
 * work unchanged:
 *
 *   policies                         management-policies.ts
 *   users, whoami                    management-users.ts
 *   permissions, topic permissions   management-permissions.ts
 *   vhosts                           management-vhosts.ts
 *   user and vhost limits            management-limits.ts
 *   definitions export and import    management-definitions.ts
 *   streams' consumer groups         management-streams.ts (EventterMQ's own)
 *
 * Every request needs HTTP basic auth (401 otherwise) by a user with a management tag, and the tag or vhost
 * access the route asks for (403 otherwise; see management-context.ts). Errors are JSON `{error, reason}`,
 * as RabbitMQ's management API answers them. Every change is recorded in the audit trail with the user
 * and the client's address.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AdminError } from '../core/administration.js';
import { PermissionPatternError } from '../core/permission-pattern.js';
import { PolicyValidationError } from '../core/policy-definition.js';
import { UserAdminError } from '../core/user-validation.js';
import { VhostAdminError } from '../core/vhost-info.js';
import { basicCredentials } from '../net/http-basic-auth.js';
import {
  ApiError,
  isManagementUser,
  type ManagementDeps,
  type ManagementUser,
  routeContext,
} from './management-context.js';
import { registerDefinitionsRoutes } from './management-definitions.js';
import { registerLimitRoutes } from './management-limits.js';
import { registerPermissionRoutes } from './management-permissions.js';
import { registerPolicyRoutes } from './management-policies.js';
import { registerStreamRoutes } from './management-streams.js';
import { registerUserRoutes } from './management-users.js';
import { registerVhostRoutes } from './management-vhosts.js';

export {
  MANAGEMENT_MAX_BODY_BYTES,
  type ManagementDeps,
  type ManagementUser,
} from './management-context.js';
export { type PolicyJson, policyToJson } from './management-policies.js';

const REALM = 'Basic realm="EventterMQ Management"';

const unauthorized = () => new ApiError(401, 'not_authorized', 'Login failed');

/** The status and body of an error the core raised for bad input, or undefined for anything else. */
function adminErrorReply(err: Error): { status: 400 | 404; error: string } | undefined {
  if (err instanceof UserAdminError || err instanceof AdminError) {
    return err.kind === 'not_found'
      ? { status: 404, error: 'not_found' }
      : { status: 400, error: 'bad_request' };
  }
  if (
    err instanceof VhostAdminError ||
    err instanceof PermissionPatternError ||
    err instanceof PolicyValidationError
  ) {
    return { status: 400, error: 'bad_request' };
  }
  return undefined;
}

/** Registers the management routes in their own scope (own error handler and body parser). */
export function registerManagementRoutes(app: FastifyInstance, deps: ManagementDeps): void {
  const users = new WeakMap<FastifyRequest, ManagementUser>();
  const userOf = (request: FastifyRequest): ManagementUser => {
    const user = users.get(request);
    if (user === undefined) throw unauthorized();
    return user;
  };
  const ctx = routeContext(deps, userOf);

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
      if (!isManagementUser(user)) throw new ApiError(403, 'not_authorised', 'Not management user');
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
      const known = adminErrorReply(err);
      if (known) return reply.code(known.status).send({ error: known.error, reason: err.message });
      const status =
        err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
      if (status === 500) deps.logger?.error({ err }, 'management request failed');
      return reply.code(status).send({
        error: status === 500 ? 'internal_error' : 'bad_request',
        reason: status === 500 ? 'internal error' : err.message,
      });
    });

    registerPolicyRoutes(scope, ctx);
    registerUserRoutes(scope, ctx);
    registerPermissionRoutes(scope, ctx);
    registerVhostRoutes(scope, ctx);
    registerLimitRoutes(scope, ctx);
    if (deps.streams) {
      registerStreamRoutes(
        scope,
        deps.streams,
        (request, vhost) => {
          ctx.checkVhost(request, vhost);
        },
        (status, error, reason) => new ApiError(status, error, reason),
        ctx.routeOptions,
      );
    }
    if (deps.definitions) {
      registerDefinitionsRoutes(scope, deps.definitions, ctx.userOf, (s, e, r) => new ApiError(s, e, r));
    }
  });
}
