import { accessRefused } from './errors.js';
import type { Access } from './permission-table.js';
import type { Principal } from './users.js';

/**
 * The one permission check every protocol adapter calls, and RabbitMQ's rules for which checks each
 * operation makes, in the order RabbitMQ makes them (the order decides which 403 a client sees).
 * A refusal is a 403 ACCESS_REFUSED BrokerError with RabbitMQ's text.
 */

export interface Resource {
  kind: 'queue' | 'exchange';
  vhost: string;
  name: string;
}

/** The default exchange's name in permission checks and their messages. */
const DEFAULT_EXCHANGE = 'amq.default';

const resourceName = (r: Resource) => (r.kind === 'exchange' && r.name === '' ? DEFAULT_EXCHANGE : r.name);

export function isAllowed(principal: Principal, access: Access, resource: Resource): boolean {
  const permissions = principal.permissions(resource.vhost);
  return permissions?.allows(access, resourceName(resource)) === true;
}

export function authorize(principal: Principal, access: Access, resource: Resource): void {
  if (!isAllowed(principal, access, resource)) {
    throw accessRefused(
      `access to ${resource.kind} '${resourceName(resource)}' in vhost '${resource.vhost}' refused for user '${principal.name}'`,
    );
  }
}

/**
 * Topic permissions apply to topic exchanges only, and only where some are set for this user, vhost and
 * exchange: without any, every routing key is allowed (RabbitMQ's rule).
 */
export function authorizeTopic(
  principal: Principal,
  access: 'write' | 'read',
  vhost: string,
  exchange: { name: string; type: string },
  routingKey: string,
): void {
  if (exchange.type !== 'topic') return;
  const topic = principal.topicPermissions(vhost, exchange.name);
  if (topic === undefined || topic.allows(access, routingKey)) return;
  throw accessRefused(
    `access to topic '${routingKey}' in exchange '${exchange.name}' in vhost '${vhost}' refused for user '${principal.name}'`,
  );
}

const queue = (vhost: string, name: string): Resource => ({ kind: 'queue', vhost, name });
const exchange = (vhost: string, name: string): Resource => ({ kind: 'exchange', vhost, name });

/**
 * RabbitMQ's per-operation rules. Passive declares check nothing; existence and argument checks come after
 * these, so a client without permission learns nothing about what exists.
 */
export const access = {
  /** queue.declare (not passive): configure the queue; a dead-letter exchange also needs read on the queue and write on it. */
  declareQueue(p: Principal, vhost: string, name: string, deadLetterExchange?: string): void {
    authorize(p, 'configure', queue(vhost, name));
    if (deadLetterExchange !== undefined) {
      authorize(p, 'read', queue(vhost, name));
      authorize(p, 'write', exchange(vhost, deadLetterExchange));
    }
  },
  deleteQueue(p: Principal, vhost: string, name: string): void {
    authorize(p, 'configure', queue(vhost, name));
  },
  purgeQueue(p: Principal, vhost: string, name: string): void {
    authorize(p, 'read', queue(vhost, name));
  },
  /** basic.consume and basic.get. */
  readQueue(p: Principal, vhost: string, name: string): void {
    authorize(p, 'read', queue(vhost, name));
  },
  /** exchange.declare (not passive): configure; an alternate exchange also needs read on this one and write on it. */
  declareExchange(p: Principal, vhost: string, name: string, alternateExchange?: string): void {
    authorize(p, 'configure', exchange(vhost, name));
    if (alternateExchange !== undefined) {
      authorize(p, 'read', exchange(vhost, name));
      authorize(p, 'write', exchange(vhost, alternateExchange));
    }
  },
  deleteExchange(p: Principal, vhost: string, name: string): void {
    authorize(p, 'configure', exchange(vhost, name));
  },
  /**
   * queue.bind/unbind and exchange.bind/unbind: write on the destination, read on the source; for a
   * topic source (when it exists) also the topic read permission on the binding key.
   */
  bind(
    p: Principal,
    vhost: string,
    destination: Resource,
    source: string,
    sourceExchange: { name: string; type: string } | undefined,
    bindingKey: string,
  ): void {
    authorize(p, 'write', destination);
    authorize(p, 'read', exchange(vhost, source));
    if (sourceExchange) authorizeTopic(p, 'read', vhost, sourceExchange, bindingKey);
  },
  /** basic.publish: write on the exchange (checked before it is looked up). */
  publish(p: Principal, vhost: string, exchangeName: string): void {
    authorize(p, 'write', exchange(vhost, exchangeName));
  },
  /** basic.publish to an existing exchange: the topic write permission on the routing key. */
  publishTopic(p: Principal, vhost: string, ex: { name: string; type: string }, routingKey: string): void {
    authorizeTopic(p, 'write', vhost, ex, routingKey);
  },
};
