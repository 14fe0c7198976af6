import { access, type ExchangeKind } from './authorization.js';
import type { Principal } from './users.js';

/** What the publish checks need to know about an exchange that exists. */
export interface PublishTarget extends ExchangeKind {
  internal: boolean;
}

/**
 * basic.publish's permission checks for one publisher (an AMQP channel), cheap enough for the hot path:
 * the write check on the exchange is remembered for the last exchange until any permission changes, and
 * the exchange is looked up for the topic check only where topic permissions exist for it.
 */
export class PublishPermissions {
  private exchange: string | undefined;
  private version = -1;
  private topicRules = false;

  constructor(
    private readonly principal: Principal,
    private readonly vhost: string,
    private readonly findExchange: (name: string) => PublishTarget | undefined,
  ) {}

  /**
   * RabbitMQ's order: write on the exchange (before it is looked up), then, for a topic exchange that exists
   * and is not internal (those are refused later with 404 / 403 of their own), write on the routing key.
   */
  check(exchangeName: string, routingKey: string): void {
    const version = this.principal.permissionsVersion();
    if (exchangeName !== this.exchange || version !== this.version) {
      access.publish(this.principal, this.vhost, exchangeName);
      this.exchange = exchangeName;
      this.version = version;
      this.topicRules = this.principal.topicPermissions(this.vhost, exchangeName) !== undefined;
    }
    if (!this.topicRules) return;
    const target = this.findExchange(exchangeName);
    if (target !== undefined && !target.internal)
      access.publishTopic(this.principal, this.vhost, target, routingKey);
  }
}
