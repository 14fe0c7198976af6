import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { TypedFieldValue } from '../codec/field-table.js';
import type { MetadataStore } from '../store/metadata-store.js';
import {
  compilePolicyPattern,
  POLICY_KEYS,
  type Policy,
  PolicyValidationError,
  validatePolicy,
} from './policy-definition.js';

/** A bound on policies per vhost: each queue declare scans them, and operators need dozens, not thousands. */
export const MAX_POLICIES_PER_VHOST = 1024;

const KEY_PREFIX = 'policy\u0000';

export interface PolicyRegistryOptions {
  /** Policies stored but no longer valid (e.g. written by a newer version) are skipped with a warning. */
  onWarning?: (message: string) => void;
}

/** A merge result, valid while no policy changed and for the same object. */
interface MergeCacheEntry {
  version: number;
  vhost: string;
  kind: 'queue' | 'exchange';
  name: string;
  result: FieldTable;
}

interface CompiledPolicy {
  readonly policy: Policy;
  readonly regex: RegExp;
}

const storeKey = (vhost: string, name: string) => `${KEY_PREFIX}${vhost}\u0000${name}`;

/** Highest priority first; equal priorities by name (RabbitMQ leaves ties undefined; we keep them stable). */
function byPrecedence(a: CompiledPolicy, b: CompiledPolicy): number {
  if (a.policy.priority !== b.policy.priority) return b.policy.priority - a.policy.priority;
  return a.policy.name < b.policy.name ? -1 : a.policy.name > b.policy.name ? 1 : 0;
}

function copyPolicy(p: Policy): Policy {
  return { ...p, definition: { ...p.definition } };
}

/** The number an integer-valued argument holds, or undefined when it is not one (parsing reports that). */
function numericArgument(value: FieldValue): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (
    value instanceof TypedFieldValue &&
    (typeof value.value === 'number' || typeof value.value === 'bigint')
  ) {
    return Number(value.value);
  }
  return undefined;
}

/**
 * Policies of every vhost, persisted in the metadata store. At most one policy applies to a queue or
 * exchange: the matching one with the highest priority. Lookups are per declare / per policy change, never
 * per message.
 */
export class PolicyRegistry {
  /** vhost -> policies in precedence order. */
  private readonly byVhost = new Map<string, CompiledPolicy[]>();
  private readonly listeners = new Set<(vhost: string) => void>();
  private readonly warn: (message: string) => void;
  /**
   * Routing asks for an exchange's alternate-exchange on every unroutable publish; the cache (keyed by the
   * exchange's argument table) spares it a regex scan and a copy each time. Any policy change invalidates.
   */
  private readonly mergeCache = new WeakMap<FieldTable, MergeCacheEntry>();
  private version = 0;

  constructor(
    private readonly meta: MetadataStore,
    options: PolicyRegistryOptions = {},
  ) {
    this.warn = options.onWarning ?? (() => {});
  }

  /** Reads the stored policies (call once at startup, before queues are recovered). */
  load(): void {
    this.byVhost.clear();
    this.version++;
    for (const [key, value] of this.meta.entries(KEY_PREFIX)) {
      try {
        const stored = value as Record<string, unknown> | null;
        const policy = validatePolicy({
          vhost: stored?.vhost,
          name: stored?.name,
          pattern: stored?.pattern,
          applyTo: stored?.applyTo,
          priority: stored?.priority,
          definition: stored?.definition,
        });
        if (key !== storeKey(policy.vhost, policy.name))
          throw new PolicyValidationError('key does not match');
        this.insert(policy);
      } catch (err) {
        this.warn(
          `skipping stored policy ${JSON.stringify(key.slice(KEY_PREFIX.length))}: ${(err as Error).message}`,
        );
      }
    }
  }

  /** Subscribes to changes; the listener gets the vhost whose policies changed. Returns an unsubscribe. */
  onChange(listener: (vhost: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Creates or replaces a policy after validating it; resolves once it is durable, then notifies listeners.
   * Returns true when the policy is new. Throws PolicyValidationError on bad input.
   */
  async set(input: Policy): Promise<boolean> {
    const policy = validatePolicy(input);
    const existing = this.get(policy.vhost, policy.name);
    if (!existing && (this.byVhost.get(policy.vhost)?.length ?? 0) >= MAX_POLICIES_PER_VHOST) {
      throw new PolicyValidationError(
        `vhost '${policy.vhost}' already has ${MAX_POLICIES_PER_VHOST} policies`,
      );
    }
    await this.meta.put(storeKey(policy.vhost, policy.name), policy);
    this.remove(policy.vhost, policy.name);
    this.insert(policy);
    this.emit(policy.vhost);
    return existing === undefined;
  }

  /** Deletes a policy; resolves false when there was none. */
  async clear(vhost: string, name: string): Promise<boolean> {
    if (!this.get(vhost, name)) return false;
    await this.meta.delete(storeKey(vhost, name));
    this.remove(vhost, name);
    this.emit(vhost);
    return true;
  }

  get(vhost: string, name: string): Policy | undefined {
    const found = this.byVhost.get(vhost)?.find((c) => c.policy.name === name);
    return found ? copyPolicy(found.policy) : undefined;
  }

  /** Policies of one vhost, or of all, sorted by vhost then name. */
  list(vhost?: string): Policy[] {
    const groups = vhost === undefined ? [...this.byVhost.values()] : [this.byVhost.get(vhost) ?? []];
    const out = groups.flat().map((c) => copyPolicy(c.policy));
    return out.sort((a, b) =>
      a.vhost !== b.vhost ? (a.vhost < b.vhost ? -1 : 1) : a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
  }

  /** The one policy that applies to a queue or exchange, if any. */
  match(vhost: string, kind: 'queue' | 'exchange', name: string): Policy | undefined {
    const found = this.find(vhost, kind, name);
    return found ? copyPolicy(found) : undefined;
  }

  /**
   * The queue's declare arguments with its policy merged in, named as x-arguments so parseQueueArguments()
   * reads them unchanged. Numeric limits take the lower of the two; names and modes keep the argument.
   * Returns `args` itself when no policy applies; never modifies it. The result may be shared: do not modify it.
   */
  effectiveQueueArguments(vhost: string, name: string, args: FieldTable): FieldTable {
    return this.cachedMerge(vhost, 'queue', name, args);
  }

  /** The exchange's declare arguments with its policy's alternate-exchange merged in (the argument wins). */
  effectiveExchangeArguments(vhost: string, name: string, args: FieldTable): FieldTable {
    return this.cachedMerge(vhost, 'exchange', name, args);
  }

  private cachedMerge(vhost: string, kind: 'queue' | 'exchange', name: string, args: FieldTable): FieldTable {
    if (!this.byVhost.has(vhost)) return args;
    const hit = this.mergeCache.get(args);
    if (
      hit &&
      hit.version === this.version &&
      hit.vhost === vhost &&
      hit.kind === kind &&
      hit.name === name
    ) {
      return hit.result;
    }
    const result = this.merge(this.find(vhost, kind, name), kind, args);
    this.mergeCache.set(args, { version: this.version, vhost, kind, name, result });
    return result;
  }

  private merge(policy: Policy | undefined, kind: 'queue' | 'exchange', args: FieldTable): FieldTable {
    if (policy === undefined) return args;
    const out: FieldTable = { ...args };
    let routingKeyFromPolicy = false;
    for (const [key, value] of Object.entries(policy.definition)) {
      const spec = POLICY_KEYS[key];
      if (spec === undefined || spec.target !== kind) continue;
      const current = out[spec.argument];
      if (current === undefined) {
        out[spec.argument] = value;
        if (spec.argument === 'x-dead-letter-routing-key') routingKeyFromPolicy = true;
      } else if (spec.merge === 'min') {
        const n = numericArgument(current);
        if (n !== undefined && typeof value === 'number' && value < n) out[spec.argument] = value;
      }
    }
    // A policy routing key means nothing without a dead letter exchange, and the parser refuses that pair.
    if (routingKeyFromPolicy && out['x-dead-letter-exchange'] === undefined) {
      delete out['x-dead-letter-routing-key'];
    }
    return out;
  }

  private find(vhost: string, kind: 'queue' | 'exchange', name: string): Policy | undefined {
    const policies = this.byVhost.get(vhost);
    if (policies === undefined) return undefined;
    const wanted = kind === 'queue' ? 'queues' : 'exchanges';
    for (const c of policies) {
      if ((c.policy.applyTo === 'all' || c.policy.applyTo === wanted) && c.regex.test(name)) return c.policy;
    }
    return undefined;
  }

  private insert(policy: Policy): void {
    let list = this.byVhost.get(policy.vhost);
    if (list === undefined) this.byVhost.set(policy.vhost, (list = []));
    list.push({ policy, regex: compilePolicyPattern(policy.pattern) });
    list.sort(byPrecedence);
  }

  private remove(vhost: string, name: string): void {
    const list = this.byVhost.get(vhost);
    if (list === undefined) return;
    const i = list.findIndex((c) => c.policy.name === name);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byVhost.delete(vhost);
  }

  private emit(vhost: string): void {
    this.version++;
    for (const listener of this.listeners) {
      try {
        listener(vhost);
      } catch (err) {
        this.warn(`policy change listener failed: ${(err as Error).message}`);
      }
    }
  }
}
