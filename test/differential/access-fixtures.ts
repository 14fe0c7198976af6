import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Broker, defaultBrokerOptions } from '../../src/core/broker.js';
import type { PermissionPatterns, TopicPatterns } from '../../src/core/permission-table.js';
import type { UserLimits } from '../../src/core/users.js';
import type { VhostLimits } from '../../src/core/vhost-info.js';
import { createLogger } from '../../src/server/logger.js';
import { rabbitSha256 } from '../helpers/rabbit-hash.js';
import type { RabbitMq } from '../helpers/rabbitmq.js';

/**
 * Users, vhosts and limits the access-control scenarios (scenarios/access-control.ts) run against, set up the
 * same way in both brokers before the scenarios start: in RabbitMQ by a definitions import, in EventterMQ
 * through the core API on its data directory before the broker process starts. Each fixture is used by one
 * scenario only, so scenarios running side by side cannot disturb each other's counts.
 */

export interface FixtureUser {
  name: string;
  password: string;
  limits?: UserLimits;
  permissions: Array<{ vhost: string } & PermissionPatterns>;
  topicPermissions?: Array<{ vhost: string; exchange: string } & TopicPatterns>;
}

const FULL = { configure: '.*', write: '.*', read: '.*' };

/** Entities named by ScenarioWorld.name('own-…') match `^d-own-`; 'other-…' ones do not. */
export const RESTRICTED_USER: FixtureUser = {
  name: 'd-limited',
  password: 'd-limited-pw',
  permissions: [
    { vhost: '/', configure: '^d-own-', write: '^(d-own-|amq\\.topic$)', read: '^(d-own-|amq\\.topic$)' },
  ],
  topicPermissions: [{ vhost: '/', exchange: 'amq.topic', write: '^{username}\\.', read: '^news\\.' }],
};

export const ONE_CONNECTION_USER: FixtureUser = {
  name: 'd-one-connection',
  password: 'd-one-connection-pw',
  limits: { 'max-connections': 1 },
  permissions: [{ vhost: '/', ...FULL }],
};

export const TWO_CHANNELS_USER: FixtureUser = {
  name: 'd-two-channels',
  password: 'd-two-channels-pw',
  limits: { 'max-channels': 2 },
  permissions: [{ vhost: '/', ...FULL }],
};

export const QUEUE_LIMIT_VHOST = 'd-queue-limit';
export const CONNECTION_LIMIT_VHOST = 'd-connection-limit';
/** A vhost RESTRICTED_USER has no permissions in. */
export const NO_ACCESS_VHOST = 'd-no-access';

const VHOSTS: Array<{ name: string; limits: VhostLimits }> = [
  { name: QUEUE_LIMIT_VHOST, limits: { 'max-queues': 2 } },
  { name: CONNECTION_LIMIT_VHOST, limits: { 'max-connections': 1 } },
  { name: NO_ACCESS_VHOST, limits: {} },
];

const USERS = [RESTRICTED_USER, ONE_CONNECTION_USER, TWO_CHANNELS_USER];

/** Guest may use every fixture vhost (the scenarios administer them as guest). */
const GUEST_PERMISSIONS = VHOSTS.map((v) => ({ user: 'guest', vhost: v.name, ...FULL }));

/** Creates the fixtures in an EventterMQ data directory; the broker is started on it afterwards. */
export async function seedEventter(dataDir: string): Promise<void> {
  const broker = await Broker.open(
    { ...defaultBrokerOptions, dataDir, fsync: false },
    createLogger('silent'),
  );
  try {
    for (const v of VHOSTS) await broker.putVhost(v.name, { limits: v.limits });
    for (const u of USERS) {
      await broker.users.putUser(u.name, { password: u.password, limits: u.limits });
      for (const { vhost, ...p } of u.permissions) await broker.users.setPermissions(u.name, vhost, p);
      for (const { vhost, exchange, ...t } of u.topicPermissions ?? [])
        await broker.users.setTopicPermissions(u.name, vhost, exchange, t);
    }
    for (const { user, vhost, ...p } of GUEST_PERMISSIONS) await broker.users.setPermissions(user, vhost, p);
  } finally {
    await broker.close();
  }
}

/** Imports the fixtures into a RabbitMQ node this process started (rabbitmqctl import_definitions). */
export async function seedRabbitMq(rabbit: RabbitMq): Promise<void> {
  const definitions = {
    users: USERS.map((u) => ({
      name: u.name,
      password_hash: rabbitSha256(u.password),
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: [],
      ...(u.limits ? { limits: u.limits } : {}),
    })),
    vhosts: VHOSTS.map((v) => ({ name: v.name })),
    permissions: [
      ...USERS.flatMap((u) => u.permissions.map(({ vhost, ...p }) => ({ user: u.name, vhost, ...p }))),
      ...GUEST_PERMISSIONS,
    ],
    topic_permissions: USERS.flatMap((u) =>
      (u.topicPermissions ?? []).map(({ vhost, exchange, ...t }) => ({
        user: u.name,
        vhost,
        exchange,
        ...t,
      })),
    ),
    parameters: VHOSTS.filter((v) => Object.keys(v.limits).length > 0).map((v) => ({
      vhost: v.name,
      component: 'vhost-limits',
      name: 'limits',
      value: v.limits,
    })),
  };
  const dir = await mkdtemp(join(tmpdir(), 'eventter-defs-'));
  try {
    const file = join(dir, 'definitions.json');
    await writeFile(file, JSON.stringify(definitions));
    await rabbit.rabbitmqctl(['import_definitions', file]);
    // The import finishes asynchronously; vhost limits are imported last.
    const last = VHOSTS.filter((v) => Object.keys(v.limits).length > 0).at(-1)!;
    for (let i = 0; ; i++) {
      const out = await rabbit.rabbitmqctl(['list_vhost_limits', '--vhost', last.name, '--silent']);
      if (out.includes('max-')) return;
      if (i === 50) throw new Error(`RabbitMQ did not finish importing the access fixtures: ${out}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
