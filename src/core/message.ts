import {
  type BasicProperties,
  decodeBasicProperties,
  encodeBasicProperties,
  rawDeliveryMode,
  rawExpiration,
  rawPriority,
} from '../codec/basic-properties.js';
import type { FieldTable, FieldValue } from '../codec/field-table.js';
import { preconditionFailed } from './errors.js';

/**
 * A message as the core sees it, whatever protocol brought it. Properties stay in their canonical encoded form
 * (the AMQP basic-properties layout, which is also what the store writes): decoding them per message would
 * cost every publish, and only a few fields matter to routing and expiry.
 */
export class Message {
  private decoded: BasicProperties | undefined;

  constructor(
    readonly exchange: string,
    readonly routingKey: string,
    readonly properties: Buffer,
    readonly body: Buffer,
    readonly persistent: boolean,
    readonly priority: number,
    /** Per-message TTL in ms from the `expiration` property, or -1 when none. */
    readonly ttl: number,
    /** Publish time, ms since the epoch. */
    readonly timestamp: number,
  ) {}

  static fromPublish(
    exchange: string,
    routingKey: string,
    properties: Buffer,
    body: Buffer,
    now: number,
  ): Message {
    const expiration = rawExpiration(properties);
    return new Message(
      exchange,
      routingKey,
      properties,
      body,
      rawDeliveryMode(properties) === 2,
      rawPriority(properties) ?? 0,
      expiration === undefined ? -1 : parseExpiration(expiration),
      now,
    );
  }

  get decodedProperties(): BasicProperties {
    this.decoded ??= decodeBasicProperties(this.properties, 0, this.properties.length);
    return this.decoded;
  }

  get headers(): FieldTable | undefined {
    return this.decodedProperties.headers;
  }

  /** The user-id property, read without a full decode when the flag bit is clear. */
  get userIdProperty(): string | undefined {
    if (this.properties.length < 2 || (this.properties[1] & 0x10) === 0) return undefined;
    return this.decodedProperties.userId;
  }

  /** The reply-to property, decoded only when its flag bit is set. */
  get replyToProperty(): string | undefined {
    if (this.properties.length < 2 || (this.properties[0] & 0x02) === 0) return undefined;
    return this.decodedProperties.replyTo;
  }

  /** Cheap test of the headers flag bit in the raw properties, before paying for a decode. */
  get hasHeaders(): boolean {
    return this.properties.length >= 2 && (this.properties[0] & 0x20) !== 0;
  }

  /** A copy without one header (e.g. BCC, which routes but must not be delivered). */
  withoutHeader(name: string): Message {
    const decoded = this.decodedProperties;
    const headers = { ...decoded.headers };
    delete headers[name];
    return this.withProperties({ ...decoded, headers });
  }

  /** A copy with one header set (e.g. x-delivery-count on a redelivery). */
  withHeader(name: string, value: FieldValue): Message {
    const decoded = this.decodedProperties;
    return this.withProperties({ ...decoded, headers: { ...decoded.headers, [name]: value } });
  }

  /** A copy with other properties, same body and routing. */
  withProperties(props: BasicProperties): Message {
    const properties = encodeBasicProperties(props);
    return new Message(
      this.exchange,
      this.routingKey,
      properties,
      this.body,
      this.persistent,
      this.priority,
      this.ttl,
      this.timestamp,
    );
  }

  /** Bytes this message occupies in memory, for cache budgets. */
  get byteSize(): number {
    return this.body.length + this.properties.length + this.routingKey.length + this.exchange.length + 64;
  }
}

/** RabbitMQ accepts only a non-negative decimal integer (ms) and answers 406 otherwise. */
export function parseExpiration(value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw preconditionFailed(`invalid expiration '${value}': no_integer`);
  return Number(value);
}
