import type { Logger } from 'pino';
import { access } from '../../core/authorization.js';
import type { ClassicQueue } from '../../core/classic-queue.js';
import type { Message } from '../../core/message.js';
import { filterToBindingKey, wildcardSkipsTopic } from '../../core/topic-mapping.js';
import type { Principal } from '../../core/users.js';
import type { VHost } from '../../core/vhost.js';
import { HEADER_RETAIN, headerFlag, publishedQos, topicOf } from './message-mapping.js';
import { type ConsumingSession, SessionConsumer } from './session-consumer.js';
import type { DeliveryPlan, Subscription } from './subscriptions.js';

/** A session's part in one shared subscription `$share/<group>/<filter>`. */
export interface SharedMembership {
  /** The subscription as the client wrote it, `$share/<group>/<filter>`; also the name of the queue. */
  name: string;
  /** The filter after the group; the subscription's options. */
  sub: Subscription;
  queue: ClassicQueue;
  consumer: SessionConsumer;
}

const SHARED = /^\$share\/([^/]*)\/(.*)$/s;

/** `$share/<group>/<filter>` split, undefined for a plain filter, or a problem when malformed. */
export function parseSharedFilter(
  text: string,
): { group: string; filter: string } | { problem: string } | undefined {
  if (!text.startsWith('$share/')) return undefined;
  const match = SHARED.exec(text);
  if (!match) return { problem: `shared subscription '${text}' has no filter` };
  const [, group, filter] = match;
  if (group.length === 0 || group.includes('+') || group.includes('#')) {
    return { problem: `invalid share name in '${text}'` };
  }
  return { group, filter };
}

export interface SharedContext {
  vhost: VHost;
  principal: Principal;
  exchange: string;
  logger: Logger;
}

/**
 * A session's shared subscriptions: each group's filter is one queue (named as the subscription,
 * `$share/<group>/<filter>`) bound to the MQTT exchange, with one consumer per member session, so members
 * compete for its messages (the core's round robin). The queue is transient and goes with its last member.
 */
export class SharedSubscriptions {
  private readonly members = new Map<string, SharedMembership>();

  constructor(
    private readonly session: ConsumingSession,
    private readonly ctx: SharedContext,
  ) {}

  get size(): number {
    return this.members.size;
  }

  has(name: string): boolean {
    return this.members.has(name);
  }

  /** Joins (or re-joins with new options) a shared subscription; throws the core's refusal. */
  async subscribe(name: string, sub: Subscription): Promise<void> {
    const existing = this.members.get(name);
    if (existing) {
      existing.sub = sub;
      return;
    }
    const { vhost, principal, exchange } = this.ctx;
    const key = filterToBindingKey(sub.filter);
    access.declareQueue(principal, vhost.name, name);
    access.bind(
      principal,
      vhost.name,
      { kind: 'queue', vhost: vhost.name, name },
      exchange,
      vhost.findExchange(exchange),
      key,
    );
    access.readQueue(principal, vhost.name, name);
    const { queue } = await vhost.declareQueue(name, {
      durable: false,
      exclusive: false,
      autoDelete: true,
      owner: this.session.owner,
    });
    if (queue.kind !== 'queue') throw new Error(`${queue.describe} is a stream, not a shared subscription`);
    await vhost.bindQueue(name, exchange, key, {}, this.session.owner);
    const member: SharedMembership = { name, sub, queue, consumer: undefined as unknown as SessionConsumer };
    member.consumer = new SessionConsumer(this.session, member);
    this.members.set(name, member);
    queue.addConsumer(member.consumer);
  }

  /** Leaves a shared subscription; false if the session was not a member. */
  unsubscribe(name: string): boolean {
    const member = this.members.get(name);
    if (!member) return false;
    this.members.delete(name);
    member.queue.removeConsumer(member.consumer);
    return true;
  }

  /** The queue of a membership was deleted under it (by an administrator). */
  forget(member: SharedMembership): void {
    if (this.members.get(member.name) === member) this.members.delete(member.name);
  }

  /** How a message of a shared subscription goes out to this member, or undefined when MQTT's rules exclude it. */
  plan(member: SharedMembership, message: Message): DeliveryPlan | undefined {
    if (member.sub.filter[0] === '+' || member.sub.filter[0] === '#') {
      if (wildcardSkipsTopic(member.sub.filter, topicOf(message))) return undefined;
    }
    const published = publishedQos(message);
    return {
      qos: published < member.sub.qos ? published : member.sub.qos,
      retain: member.sub.retainAsPublished && headerFlag(message, HEADER_RETAIN),
      subscriptionIds: member.sub.id === undefined ? undefined : [member.sub.id],
    };
  }

  resumeDelivery(): void {
    for (const member of this.members.values()) member.queue.resumeDelivery();
  }

  /** The session ended: its consumers leave (the last member's leaving deletes the queue). */
  detach(): void {
    for (const member of this.members.values()) member.queue.removeConsumer(member.consumer);
    this.members.clear();
  }
}
