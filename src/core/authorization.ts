import { accessRefused } from './errors.js';
import type { Access } from './permission-table.js';
import type { Principal } from './users.js';

/**
 * The one permission check every protocol adapter calls, and RabbitMQ's rules for which checks each
 * operation makes, in the order RabbitMQ 3.10 makes them (the order decides which 403 a client sees).
 * A refusal is a 403 ACCESS_REFUSED BrokerError with RabbitMQ's text.
 *
 * Where the order interleaves with looking things up (a dead-letter exchange is checked only for a queue
 * that does not exist yet), the vhost calls these at the right point; see VHost.declareQueue and friends.
 */

export interface Resource {
  kind: 'queue' | 'exchange';
  vhost: string;
  name: string;
}

/** What the topic rules need to know about an exchange. */
export interface ExchangeKind {
  name: string;
  type: string;
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
  exchange: ExchangeKind,
  routingKey: string,
): void {
  if (exchange.type !== 'topic') return;
  const topic = principal.topicPermissions(vhost, exchange.name);
  if (topic === undefined || topic.allows(access, routingKey)) return;
  throw accessRefused(
    `access to topic '${routingKey}' in exchange '${exchange.name}' in vhost '${vhost}' refused for user '${principal.name}'`,
  );
}

/** Nothing binds to or from the nameless default exchange, whoever asks. */
export function refuseDefaultExchange(...names: string[]): void {
  if (names.includes('')) throw accessRefused('operation not permitted on the default exchange');
}

const queue = (vhost: string, name: string): Resource => ({ kind: 'queue', vhost, name });
const exchange = (vhost: string, name: string): Resource => ({ kind: 'exchange', vhost, name });

/**
 * RabbitMQ's per-operation rules. Passive declares check nothing. Existence checks come after these, so a
 * client without permission learns nothing about what exists.
 */
export const access = {
  /** queue.declare (not passive), once the name is known (a server-generated one included): configure. */
  declareQueue(p: Principal, vhost: string, name: string): void {
    authorize(p, 'configure', queue(vhost, name));
  },
  /** A queue.declare that creates the queue: with a dead-letter exchange, read on the queue and write on it. */
  createQueue(p: Principal, vhost: string, name: string, deadLetterExchange: string | undefined): void {
    if (deadLetterExchange === undefined) return;
    authorize(p, 'read', queue(vhost, name));
    authorize(p, 'write', exchange(vhost, deadLetterExchange));
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
  /** exchange.declare (not passive): configure. */
  declareExchange(p: Principal, vhost: string, name: string): void {
    authorize(p, 'configure', exchange(vhost, name));
  },
  /** An exchange.declare that creates the exchange: with an alternate exchange, read on this one and write on it. */
  createExchange(p: Principal, vhost: string, name: string, alternateExchange: string | undefined): void {
    if (alternateExchange === undefined) return;
    authorize(p, 'read', exchange(vhost, name));
    authorize(p, 'write', exchange(vhost, alternateExchange));
  },
  deleteExchange(p: Principal, vhost: string, name: string): void {
    authorize(p, 'configure', exchange(vhost, name));
  },
  /**
   * queue.bind/unbind and exchange.bind/unbind: write on the destination, then the default exchange is
   * refused, then read on the source and, for a topic source that exists, the topic read permission on the
   * binding key. Missing ends are reported (404) after all of these.
   */
  bind(
    p: Principal,
    vhost: string,
    destination: Resource,
    source: string,
    sourceExchange: ExchangeKind | undefined,
    bindingKey: string,
  ): void {
    authorize(p, 'write', destination);
    refuseDefaultExchange(source, destination.kind === 'exchange' ? destination.name : source);
    authorize(p, 'read', exchange(vhost, source));
    if (sourceExchange) authorizeTopic(p, 'read', vhost, sourceExchange, bindingKey);
  },
  /** basic.publish: write on the exchange (checked before it is looked up). */
  publish(p: Principal, vhost: string, exchangeName: string): void {
    authorize(p, 'write', exchange(vhost, exchangeName));
  },
  /** basic.publish to an existing, non-internal exchange: the topic write permission on the routing key. */
  publishTopic(p: Principal, vhost: string, ex: ExchangeKind, routingKey: string): void {
    authorizeTopic(p, 'write', vhost, ex, routingKey);
  },
};
