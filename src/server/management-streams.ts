/**
 * Consumer groups of streams over the management API (EventterMQ's own; RabbitMQ has no groups):
 *
 *   GET /api/streams/:vhost/:stream/groups          each group's committed position, lag, members
 *   PUT /api/streams/:vhost/:stream/groups/:group   {"offset": "first" | "last" | "next" | N | "1h"}
 *                                                   or {"timestamp": ISO-8601 or epoch ms}: move the group
 *                                                   (replay or skip), creating it if needed; 204
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GroupInfo } from '../core/consumer-group.js';
import { BrokerError } from '../core/errors.js';
import { parseStreamStart, type StreamStart } from '../core/stream-arguments.js';

export interface StreamAdmin {
  /** The groups of a stream; undefined when there is no such stream. */
  groups(vhost: string, stream: string): GroupInfo[] | undefined;
  /** Moves (or creates) a group; false when there is no such stream. */
  resetGroup(vhost: string, stream: string, group: string, start: StreamStart): Promise<boolean>;
}

type Fail = (status: 400 | 404, error: string, reason: string) => Error;

function startFromBody(body: unknown, fail: Fail): StreamStart {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw fail(400, 'bad_request', 'the body must be {"offset": …} or {"timestamp": …}');
  }
  const { offset, timestamp } = body as { offset?: unknown; timestamp?: unknown };
  if (timestamp !== undefined) {
    const ms =
      typeof timestamp === 'number'
        ? timestamp
        : typeof timestamp === 'string'
          ? Date.parse(timestamp)
          : Number.NaN;
    if (!Number.isFinite(ms))
      throw fail(400, 'bad_request', 'timestamp must be ISO-8601 or epoch milliseconds');
    return { kind: 'time', timestamp: ms };
  }
  if (typeof offset !== 'string' && typeof offset !== 'number') {
    throw fail(400, 'bad_request', 'offset must be first, last, next, an offset or an interval such as 1h');
  }
  try {
    return parseStreamStart(offset, Date.now(), 'the group reset');
  } catch (err) {
    if (err instanceof BrokerError) throw fail(400, 'bad_request', err.text);
    throw err;
  }
}

export function registerStreamRoutes(
  scope: FastifyInstance,
  admin: StreamAdmin,
  checkVhost: (request: FastifyRequest, vhost: string) => void,
  fail: Fail,
  routeOptions: { bodyLimit: number },
): void {
  scope.get<{ Params: { vhost: string; stream: string } }>(
    '/api/streams/:vhost/:stream/groups',
    routeOptions,
    async (request) => {
      const { vhost, stream } = request.params;
      checkVhost(request, vhost);
      const groups = admin.groups(vhost, stream);
      if (!groups) throw fail(404, 'not_found', `no stream '${stream}' in vhost '${vhost}'`);
      return groups;
    },
  );

  scope.put<{ Params: { vhost: string; stream: string; group: string } }>(
    '/api/streams/:vhost/:stream/groups/:group',
    routeOptions,
    async (request, reply) => {
      const { vhost, stream, group } = request.params;
      checkVhost(request, vhost);
      if (group.length === 0 || group.length > 255)
        throw fail(400, 'bad_request', 'a group name has 1..255 characters');
      const start = startFromBody(request.body, fail);
      if (!(await admin.resetGroup(vhost, stream, group, start))) {
        throw fail(404, 'not_found', `no stream '${stream}' in vhost '${vhost}'`);
      }
      return reply.code(204).send();
    },
  );
}
