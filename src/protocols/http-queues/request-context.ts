import type { FastifyRequest } from 'fastify';
import type { Principal } from '../../core/users.js';
import type { VHost } from '../../core/vhost.js';
import { basicCredentials } from '../../net/http-basic-auth.js';
import { queueApiLimits } from './limits.js';
import { QueueApiError } from './queue-api-error.js';

/**
 * Who is asking and where: every request is authenticated (HTTP Basic, the broker's users), then checked the
 * way Zaqar's request hooks check it, in Zaqar's order: no form-encoded bodies, JSON must be acceptable, a
 * Client-ID that is a UUID, the X-Project-ID header, the queue name. The project names the vhost.
 */

/** The vhost a request without X-Project-ID works in (Zaqar itself requires the header; see docs). */
export const DEFAULT_PROJECT = '/';
export const REALM = 'Basic realm="EventterMQ"';

export interface QueueApiContext {
  principal: Principal;
  /** The X-Project-ID (default '/'): the vhost's name. */
  project: string;
  vhost: VHost;
  /** Client-ID, as the canonical lower-case hyphenated UUID. */
  clientId: string;
}

export interface ContextDeps {
  vhost(name: string): VHost | undefined;
  authenticate(
    user: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<Principal | undefined>;
}

const QUEUE_NAME = /^[a-zA-Z0-9_\-.]+$/;

const unauthorized = () =>
  new QueueApiError(401, 'Unauthorized', 'HTTP Basic authentication with a broker user is required.', {
    'WWW-Authenticate': REALM,
  });

export async function contextOf(deps: ContextDeps, request: FastifyRequest): Promise<QueueApiContext> {
  const credentials = basicCredentials(request.headers.authorization);
  const principal =
    credentials === undefined
      ? undefined
      : await deps.authenticate(credentials.user, credentials.password, request.socket.remoteAddress);
  if (principal === undefined) throw unauthorized();
  checkContentType(request);
  checkAccept(request.headers.accept);
  const clientId = clientIdOf(request.headers['client-id']);
  const project = projectOf(request.headers['x-project-id']);
  const queueName = (request.params as { queue_name?: string } | undefined)?.queue_name;
  if (queueName !== undefined) checkQueueIdentification(queueName, project);
  if (principal.permissions(project) === undefined) {
    throw new QueueApiError(
      403,
      'Not authorized',
      `user '${principal.name}' has no access to project (vhost) '${project}'`,
    );
  }
  const vhost = deps.vhost(project);
  if (vhost === undefined) throw new QueueApiError(404, 'Not found', `no project (vhost) '${project}'`);
  return { principal, project, vhost, clientId };
}

function checkContentType(request: FastifyRequest): void {
  const type = request.headers['content-type'];
  if (request.headers['content-length'] === undefined || type === undefined) return;
  if (type.toLowerCase() === 'application/x-www-form-urlencoded') {
    throw new QueueApiError(
      400,
      'Invalid Content-Type',
      'Endpoint does not accept `application/x-www-form-urlencoded` content; currently supported media type is `application/json`; specify proper client-side media type with the "Content-Type" header.',
    );
  }
}

/** Whether an Accept header admits application/json (absent: anything goes). */
function checkAccept(accept: string | undefined): void {
  if (accept === undefined || accept.trim() === '') return;
  for (const range of accept.split(',')) {
    const [type, ...params] = range.split(';').map((s) => s.trim().toLowerCase());
    if (type !== 'application/json' && type !== 'application/*' && type !== '*/*') continue;
    const q = params.find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return;
  }
  // No body, as Zaqar: the client has just said it cannot read one.
  throw new QueueApiError(
    406,
    'Not Acceptable',
    'Endpoint only serves `application/json`; specify client-side media type support with the "Accept" header.',
    {},
    false,
  );
}

/** Python's uuid.UUID() forms: hyphens, braces and a urn:uuid: prefix are optional; 32 hex digits. */
function clientIdOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[header.length - 1] : header;
  if (value === undefined) {
    throw new QueueApiError(400, 'Missing header value', 'The "Client-ID" header is required.');
  }
  const hex = value
    .replaceAll('urn:', '')
    .replaceAll('uuid:', '')
    .replace(/^[{}]+|[{}]+$/g, '')
    .replaceAll('-', '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) {
    throw new QueueApiError(400, 'Wrong UUID value', 'Malformed hexadecimal UUID.');
  }
  const h = hex.toLowerCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function projectOf(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[header.length - 1] : header;
  if (value === undefined) return DEFAULT_PROJECT;
  if (value === '') {
    throw new QueueApiError(
      400,
      'Empty project header not allowed',
      'X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and retry.',
    );
  }
  return value;
}

function checkQueueIdentification(queue: string, project: string): void {
  if (
    project.length > queueApiLimits.maxProjectIdLength ||
    queue.length > queueApiLimits.maxQueueNameLength ||
    !QUEUE_NAME.test(queue)
  ) {
    throw new QueueApiError(
      400,
      'Invalid queue identification',
      'The format of the submitted queue name or project id is not valid.',
    );
  }
}

/** Whether a queue name is one the API can address (AMQP allows more than Zaqar's URLs do). */
export function isQueueApiName(name: string): boolean {
  return name.length <= queueApiLimits.maxQueueNameLength && QUEUE_NAME.test(name);
}
