import {
  compilePermissionPattern,
  expandTopicVariables,
  type PermissionPattern,
} from './permission-pattern.js';

/**
 * RabbitMQ's permissions, per user and vhost: three patterns over resource names (configure, write,
 * read), and per exchange optional topic permissions (write, read patterns over routing keys).
 * Compiled once when set; `allows` caches the answer per name, so a publisher sending to the same
 * exchange again pays one map lookup.
 */

export type Access = 'configure' | 'write' | 'read';

export interface PermissionPatterns {
  configure: string;
  write: string;
  read: string;
}

export interface TopicPatterns {
  write: string;
  read: string;
}

export const FULL_PERMISSIONS: Readonly<PermissionPatterns> = { configure: '.*', write: '.*', read: '.*' };

/** Names answered per access before the cache starts over (bounds memory against clients inventing names). */
const MAX_CACHED_NAMES = 512;

export class CompiledPermissions {
  private readonly patterns: Record<Access, PermissionPattern>;
  private readonly cache: Record<Access, Map<string, boolean>> = {
    configure: new Map(),
    write: new Map(),
    read: new Map(),
  };

  constructor(readonly source: Readonly<PermissionPatterns>) {
    this.patterns = {
      configure: compilePermissionPattern(source.configure),
      write: compilePermissionPattern(source.write),
      read: compilePermissionPattern(source.read),
    };
  }

  allows(access: Access, name: string): boolean {
    const cache = this.cache[access];
    let answer = cache.get(name);
    if (answer === undefined) {
      answer = this.patterns[access].matches(name);
      if (cache.size >= MAX_CACHED_NAMES) cache.clear();
      cache.set(name, answer);
    }
    return answer;
  }
}

export class CompiledTopicPermissions {
  private readonly write: PermissionPattern;
  private readonly read: PermissionPattern;

  constructor(
    readonly source: Readonly<TopicPatterns>,
    vars: { username: string; vhost: string },
  ) {
    this.write = compilePermissionPattern(expandTopicVariables(source.write, vars));
    this.read = compilePermissionPattern(expandTopicVariables(source.read, vars));
  }

  allows(access: 'write' | 'read', routingKey: string): boolean {
    return (access === 'write' ? this.write : this.read).matches(routingKey);
  }
}
