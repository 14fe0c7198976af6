/**
 * Definitions export and import over the management API, as RabbitMQ's (administrators only):
 *
 *   GET  /api/definitions            the whole broker in RabbitMQ's definitions format (?download=NAME adds
 *                                    Content-Disposition, as RabbitMQ's UI asks for it)
 *   GET  /api/definitions/:vhost     one vhost's exchanges, queues, bindings, policies and limits
 *   POST /api/definitions            import a definitions file (the body): 204; 400 naming every problem,
 *                                    and then nothing was changed
 *   POST /api/definitions/:vhost     import into that vhost (RabbitMQ's per-vhost import); 404 without it
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditActor } from '../core/audit.js';
import { DEFINITIONS_MAX_BYTES, DefinitionsError } from '../core/definitions-format.js';
import type { Logger } from './logger.js';
import type { ManagementUser } from './management-api.js';

export interface DefinitionsAdmin {
  hasVhost(vhost: string): boolean;
  /** The whole broker, or one vhost (undefined when there is no such vhost). */
  export(vhost?: string): { definitions: object; warnings: string[] } | undefined;
  /** Throws DefinitionsError when the file cannot be imported (nothing applied then). */
  import(
    input: unknown,
    vhost?: string,
    actor?: AuditActor,
  ): Promise<{ warnings: string[]; counts?: object }>;
}

type Fail = (status: 400 | 401 | 403 | 404, error: string, reason: string) => Error;

/** RabbitMQ answers 401 (not 403) to a user without the administrator tag. */
/** 403 like every other tag refusal of the management API (docs/access-control.md says why not 401). */
function requireAdministrator(user: ManagementUser, fail: Fail): ManagementUser {
  if (!user.tags.has('administrator')) throw fail(403, 'not_authorised', 'Not administrator user');
  return user;
}

/** A download name safe inside a quoted header value. */
function attachmentName(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  const safe = value.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 200);
  return safe.length > 0 ? safe : undefined;
}

/** The admin with what the file could not carry or the broker ignored logged as warnings (HTTP has no place for them). */
export function logDefinitionsWarnings(
  admin: DefinitionsAdmin,
  logger: Pick<Logger, 'warn'>,
): DefinitionsAdmin {
  const report = (warnings: string[], vhost: string | undefined) => {
    for (const warning of warnings) logger.warn({ vhost }, `definitions: ${warning}`);
  };
  return {
    hasVhost: (vhost) => admin.hasVhost(vhost),
    export: (vhost) => {
      const result = admin.export(vhost);
      if (result) report(result.warnings, vhost);
      return result;
    },
    import: async (input, vhost, actor) => {
      const result = await admin.import(input, vhost, actor);
      report(result.warnings, vhost);
      return result;
    },
  };
}

export function registerDefinitionsRoutes(
  scope: FastifyInstance,
  admin: DefinitionsAdmin,
  userOf: (request: FastifyRequest) => ManagementUser,
  fail: Fail,
): void {
  const exportRoute = async (
    request: FastifyRequest<{ Params: { vhost?: string }; Querystring: { download?: unknown } }>,
    reply: { header(name: string, value: string): unknown },
  ) => {
    requireAdministrator(userOf(request), fail);
    const vhost = request.params.vhost;
    const result = admin.export(vhost);
    if (result === undefined) throw fail(404, 'not_found', 'vhost_not_found');
    const name = attachmentName(request.query.download);
    if (name !== undefined) reply.header('content-disposition', `attachment; filename="${name}"`);
    return result.definitions;
  };

  const importRoute = async (
    request: FastifyRequest<{ Params: { vhost?: string } }>,
    reply: { code(status: number): { send(): unknown } },
  ) => {
    const user = requireAdministrator(userOf(request), fail);
    const vhost = request.params.vhost;
    if (vhost !== undefined && !admin.hasVhost(vhost)) throw fail(404, 'not_found', 'vhost_not_found');
    try {
      // RabbitMQ takes an empty body as an empty file.
      const actor = { user: user.name, from: request.socket.remoteAddress ?? 'unknown' };
      await admin.import(request.body ?? {}, vhost, actor);
    } catch (err) {
      if (err instanceof DefinitionsError) throw fail(400, 'bad_request', err.message);
      throw err;
    }
    return reply.code(204).send();
  };

  const readOptions = { bodyLimit: 64 * 1024 };
  const writeOptions = { bodyLimit: DEFINITIONS_MAX_BYTES };
  scope.get('/api/definitions', readOptions, exportRoute);
  scope.get('/api/definitions/:vhost', readOptions, exportRoute);
  scope.post('/api/definitions', writeOptions, importRoute);
  scope.post('/api/definitions/:vhost', writeOptions, importRoute);
}
