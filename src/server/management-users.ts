/**
 * Users over the management API, as RabbitMQ serves them (administrator tag unless said otherwise):
 *
 *   GET    /api/whoami                        {name, tags} of the logged-in user (any management user)
 *   GET    /api/users                         [{name, password_hash, hashing_algorithm, tags, limits}]
 *   GET    /api/users/without-permissions     the users without permissions in any vhost
 *   GET    /api/users/:name                   one user
 *   PUT    /api/users/:name                   {password | password_hash [+ hashing_algorithm], tags}: 201/204
 *   DELETE /api/users/:name                   204, with the user's permissions
 *   GET    /api/users/:name/permissions       the user's permissions in every vhost
 *   GET    /api/users/:name/topic-permissions the user's topic permissions
 *
 * User limits: management-limits.ts.
 *
 * Plain passwords are never shown: password_hash is the stored hash (RabbitMQ's own form for hashes
 * imported from RabbitMQ, `scrypt:…` with hashing_algorithm eventter_password_hashing_scrypt otherwise).
 * A PUT without password or password_hash keeps the user's password (RabbitMQ would set a random one);
 * without tags it keeps the tags.
 */
import type { FastifyInstance } from 'fastify';
import type { UserChange } from '../core/administration.js';
import { toRabbitHash } from '../core/password-hash.js';
import { storedHashFromRabbit } from '../core/rabbit-password-import.js';
import type { UserInfo } from '../core/users.js';
import {
  badRequest,
  knownUser,
  notFound,
  objectBody,
  type RouteContext,
  stringField,
  tagsField,
} from './management-context.js';
import { permissionJson, topicPermissionJson } from './management-permissions.js';

/** As for `eventter hash-password`: long enough for any passphrase, short enough to hash cheaply. */
export const MAX_PASSWORD_BYTES = 1024;

/** A user as the RabbitMQ management API shows it. */
export interface UserJson {
  name: string;
  password_hash: string;
  hashing_algorithm: string;
  tags: string[];
  limits: UserInfo['limits'];
}

function userChangeFromBody(body: unknown): UserChange {
  const fields = objectBody(body, 'password or password_hash, and tags');
  const password = stringField(fields, 'password', false);
  const hash = stringField(fields, 'password_hash', false);
  const algorithm = stringField(fields, 'hashing_algorithm', false);
  if (password !== undefined && hash !== undefined) {
    throw badRequest('give password or password_hash, not both');
  }
  const change: UserChange = {};
  if (password !== undefined) {
    if (password.length === 0 || Buffer.byteLength(password) > MAX_PASSWORD_BYTES) {
      throw badRequest(`a password must be 1..${MAX_PASSWORD_BYTES} bytes`);
    }
    change.password = password;
  }
  if (hash !== undefined) change.passwordHash = storedHashFromRabbit(hash, algorithm);
  const tags = tagsField(fields);
  if (tags !== undefined) change.tags = tags;
  return change;
}

export function registerUserRoutes(scope: FastifyInstance, ctx: RouteContext): void {
  const { admin } = ctx.deps;
  const options = ctx.routeOptions;
  const userJson = (info: UserInfo): UserJson => ({
    name: info.name,
    ...toRabbitHash(admin.users.passwordHashOf(info.name) ?? ''),
    tags: info.tags,
    limits: info.limits,
  });
  type Name = { Params: { name: string } };

  scope.get('/api/whoami', options, async (request) => {
    const user = ctx.userOf(request);
    return { name: user.name, tags: [...user.tags] };
  });

  scope.get('/api/users', options, async (request) => {
    ctx.requireAdministrator(request);
    return admin.users.listUsers().map(userJson);
  });

  scope.get('/api/users/without-permissions', options, async (request) => {
    ctx.requireAdministrator(request);
    const withPermissions = new Set(admin.users.listPermissions().map((p) => p.user));
    return admin.users
      .listUsers()
      .filter((u) => !withPermissions.has(u.name))
      .map(userJson);
  });

  scope.get<Name>('/api/users/:name', options, async (request) => {
    ctx.requireAdministrator(request);
    return userJson(knownUser(admin, request.params.name));
  });

  scope.put<Name>('/api/users/:name', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const change = userChangeFromBody(request.body);
    const outcome = await admin.putUser(ctx.actorOf(request), request.params.name, change);
    return reply.code(outcome === 'created' ? 201 : 204).send();
  });

  scope.delete<Name>('/api/users/:name', options, async (request, reply) => {
    ctx.requireAdministrator(request);
    const { name } = request.params;
    if (!(await admin.deleteUser(ctx.actorOf(request), name))) throw notFound(`no user '${name}'`);
    return reply.code(204).send();
  });

  scope.get<Name>('/api/users/:name/permissions', options, async (request) => {
    ctx.requireAdministrator(request);
    const { name } = knownUser(admin, request.params.name);
    return admin.users.listPermissions({ user: name }).map(permissionJson);
  });

  scope.get<Name>('/api/users/:name/topic-permissions', options, async (request) => {
    ctx.requireAdministrator(request);
    const { name } = knownUser(admin, request.params.name);
    return admin.users.listTopicPermissions({ user: name }).map(topicPermissionJson);
  });
}
