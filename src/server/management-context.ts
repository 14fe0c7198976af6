/**
 * What every management route shares: the logged-in user, RabbitMQ's authorisation by user tags, the audit
 * actor of a request, and RabbitMQ-shaped errors (`{error, reason}`).
 *
 * Tags (RabbitMQ's): any API use needs one of management, policymaker, monitoring or administrator;
 * administrator manages users, vhosts, permissions and limits, and reaches every vhost; policymaker manages
 * policies in the vhosts it has permissions in; monitoring sees every vhost (read-only). Refusals are 403
 * (RabbitMQ answers 401, which makes browsers ask for other credentials; the reason texts are its own).
 */
import type { FastifyRequest } from 'fastify';
import type { Administration } from '../core/administration.js';
import type { AuditActor } from '../core/audit.js';
import type { Principal, UserInfo } from '../core/users.js';
import type { VhostInfo } from '../core/vhost-info.js';
import type { Logger } from './logger.js';
import type { DefinitionsAdmin } from './management-definitions.js';
import type { StreamAdmin } from './management-streams.js';

/** A logged-in user: access to a vhost means having permissions there, as in RabbitMQ. */
export type ManagementUser = Pick<Principal, 'name' | 'tags' | 'permissions'>;

export interface ManagementDeps {
  /** Audited changes, and the registries to read. */
  admin: Administration;
  authenticate(
    user: string,
    password: string,
    remoteAddress: string | undefined,
  ): Promise<ManagementUser | undefined>;
  /** Where unexpected (500) failures are logged. */
  logger?: Pick<Logger, 'error'>;
  /** Serves the streams' consumer-group routes when given. */
  streams?: StreamAdmin;
  /** Serves definitions export and import (management-definitions.ts) when given. */
  definitions?: DefinitionsAdmin;
  /** Ready and unacknowledged messages of a vhost, shown in GET /api/vhosts when given. */
  messageCounts?(vhost: string): { ready: number; unacknowledged: number } | undefined;
}

/** A body is a few hundred bytes; this leaves room for long patterns and nothing else. */
export const MANAGEMENT_MAX_BODY_BYTES = 64 * 1024;

export const MANAGEMENT_TAGS = ['management', 'policymaker', 'monitoring', 'administrator'] as const;

export class ApiError extends Error {
  constructor(
    readonly statusCode: 400 | 401 | 403 | 404,
    readonly error: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

export const badRequest = (reason: string) => new ApiError(400, 'bad_request', reason);
export const notFound = (reason: string) => new ApiError(404, 'not_found', reason);
const notAuthorised = (reason: string) => new ApiError(403, 'not_authorised', reason);

export const isAdministrator = (user: ManagementUser) => user.tags.has('administrator');

/** Every vhost for administrators; for others the vhosts they have permissions in (policies, streams). */
export function mayUseVhost(user: ManagementUser, vhost: string): boolean {
  return isAdministrator(user) || user.permissions(vhost) !== undefined;
}

/** Listings (vhosts, their limits): monitoring users see every vhost as well. */
export function maySeeVhost(user: ManagementUser, vhost: string): boolean {
  return user.tags.has('monitoring') || mayUseVhost(user, vhost);
}

export interface RouteContext {
  readonly deps: ManagementDeps;
  readonly routeOptions: { bodyLimit: number };
  userOf(request: FastifyRequest): ManagementUser;
  /** Who and where from, for the audit trail. */
  actorOf(request: FastifyRequest): AuditActor;
  requireAdministrator(request: FastifyRequest): ManagementUser;
  requirePolicymaker(request: FastifyRequest): ManagementUser;
  /** 403 unless mayUseVhost, then 404 if the vhost does not exist. */
  checkVhost(request: FastifyRequest, vhost: string): ManagementUser;
}

export function routeContext(
  deps: ManagementDeps,
  userOf: (request: FastifyRequest) => ManagementUser,
): RouteContext {
  const requireTag = (request: FastifyRequest, tags: string[], reason: string): ManagementUser => {
    const user = userOf(request);
    if (!tags.some((t) => user.tags.has(t))) throw notAuthorised(reason);
    return user;
  };
  return {
    deps,
    routeOptions: { bodyLimit: MANAGEMENT_MAX_BODY_BYTES },
    userOf,
    actorOf: (request) => ({ user: userOf(request).name, from: request.socket.remoteAddress ?? 'unknown' }),
    requireAdministrator: (request) => requireTag(request, ['administrator'], 'Not administrator user'),
    requirePolicymaker: (request) =>
      requireTag(request, ['administrator', 'policymaker'], 'Not policymaker user'),
    checkVhost: (request, vhost) => {
      const user = userOf(request);
      if (!mayUseVhost(user, vhost)) {
        throw new ApiError(403, 'access_refused', `user '${user.name}' has no access to vhost '${vhost}'`);
      }
      if (!deps.admin.vhosts.vhostInfo(vhost)) throw notFound(`no vhost '${vhost}'`);
      return user;
    },
  };
}

/** Whether a user may use the management API at all (RabbitMQ: "Not management user" otherwise). */
export function isManagementUser(user: ManagementUser): boolean {
  return MANAGEMENT_TAGS.some((t) => user.tags.has(t));
}

/** The body as a JSON object, or 400. */
export function objectBody(body: unknown, expected: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest(`the body must be a JSON object with ${expected}`);
  }
  return body as Record<string, unknown>;
}

/** A string field of a body: 400 when required and absent, or present and not a string. */
export function stringField(fields: Record<string, unknown>, key: string, required: true): string;
export function stringField(
  fields: Record<string, unknown>,
  key: string,
  required: false,
): string | undefined;
export function stringField(
  fields: Record<string, unknown>,
  key: string,
  required: boolean,
): string | undefined {
  const value = fields[key];
  if (value === undefined) {
    if (required) throw badRequest(`${key} is required`);
    return undefined;
  }
  if (typeof value !== 'string') throw badRequest(`${key} must be a string`);
  return value;
}

/** RabbitMQ's tags: "a,b" or ["a", "b"]. */
export function tagsField(fields: Record<string, unknown>): string[] | undefined {
  const value = fields.tags;
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value.split(',');
  if (Array.isArray(value) && value.every((t) => typeof t === 'string')) return value as string[];
  throw badRequest('tags must be a comma-separated string or an array of strings');
}

/** The value of a limit's PUT body ({"value": N}); the core checks it. */
export function limitValueFromBody(body: unknown): unknown {
  const fields = objectBody(body, 'value');
  if (fields.value === undefined) throw badRequest('value is required');
  return fields.value;
}

/** The user, or 404. */
export function knownUser(admin: Administration, name: string): UserInfo {
  const info = admin.users.getUser(name);
  if (!info) throw notFound(`no user '${name}'`);
  return info;
}

/** The vhost, or 404. */
export function knownVhost(admin: Administration, name: string): VhostInfo {
  const info = admin.vhosts.vhostInfo(name);
  if (!info) throw notFound(`no vhost '${name}'`);
  return info;
}
