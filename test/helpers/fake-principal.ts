import {
  CompiledPermissions,
  CompiledTopicPermissions,
  type PermissionPatterns,
  type TopicPatterns,
} from '../../src/core/permission-table.js';
import type { Principal, UserLimits } from '../../src/core/users.js';

/** A user with these permissions on vhost "/" (none elsewhere) and these topic permissions there. */
export function fakePrincipal(
  name: string,
  patterns: PermissionPatterns | undefined,
  topics: Record<string, TopicPatterns> = {},
  limits: UserLimits = {},
): Principal & { setPatterns(p: PermissionPatterns): void } {
  let compiled = patterns && new CompiledPermissions(patterns);
  let version = 0;
  const topic = new Map(
    Object.entries(topics).map(([ex, t]) => [
      ex,
      new CompiledTopicPermissions(t, { username: name, vhost: '/' }),
    ]),
  );
  return {
    name,
    tags: new Set(),
    permissions: (vhost) => (vhost === '/' ? compiled : undefined),
    topicPermissions: (vhost, exchange) => (vhost === '/' ? topic.get(exchange) : undefined),
    limits: () => limits,
    permissionsVersion: () => version,
    setPatterns(p) {
      compiled = new CompiledPermissions(p);
      version++;
    },
  };
}
