import { encodeBasicProperties } from '../../codec/basic-properties.js';
import type { FieldValue } from '../../codec/field-table.js';
import { Message } from '../../core/message.js';

/**
 * How queue messages look over HTTP, both ways (docs/http-queues.md has the table):
 * - a POSTed message is stored as its body's JSON text with content-type application/json, persistent,
 *   its TTL as the AMQP expiration (ms), the post time as the AMQP timestamp and the poster's Client-ID in
 *   the x-client-id header (Zaqar's "echo" compares it);
 * - any message read over HTTP shows a JSON body when its content type is JSON and it parses, else its text
 *   when it is UTF-8, else `{"base64": "..."}`.
 */

export const CLIENT_ID_HEADER = 'x-client-id';
const JSON_CONTENT_TYPE = 'application/json';
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Builds the messages of one POST; messages with the same TTL share one encoded property block. */
export class PostedMessages {
  private readonly propertiesByTtl = new Map<number, Buffer>();

  constructor(
    private readonly queue: string,
    private readonly clientId: string,
    private readonly nowMs: number,
  ) {}

  message(body: unknown, ttlSeconds: number): Message {
    let properties = this.propertiesByTtl.get(ttlSeconds);
    if (properties === undefined) {
      properties = encodeBasicProperties({
        contentType: JSON_CONTENT_TYPE,
        deliveryMode: 2,
        expiration: String(ttlSeconds * 1000),
        timestamp: Math.floor(this.nowMs / 1000),
        headers: { [CLIENT_ID_HEADER]: this.clientId },
      });
      this.propertiesByTtl.set(ttlSeconds, properties);
    }
    const content = Buffer.from(JSON.stringify(body), 'utf8');
    return new Message('', this.queue, properties, content, true, 0, ttlSeconds * 1000, this.nowMs);
  }
}

/** The body as HTTP clients see it (see the module comment). */
export function bodyOf(message: Message): unknown {
  let text: string | undefined;
  try {
    text = utf8.decode(message.body);
  } catch {
    return { base64: message.body.toString('base64') };
  }
  if (isJsonType(message.decodedProperties.contentType)) {
    try {
      return JSON.parse(text);
    } catch {
      // Labelled JSON but not JSON: shown as the text it is.
    }
  }
  return text;
}

function isJsonType(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';')[0].trim().toLowerCase();
  return type === JSON_CONTENT_TYPE || type.endsWith('+json');
}

/** The Client-ID of the poster, for messages POSTed over HTTP; undefined for others. */
export function posterOf(message: Message): string | undefined {
  if (!message.hasHeaders) return undefined;
  const value: FieldValue | undefined = message.headers?.[CLIENT_ID_HEADER];
  if (typeof value === 'string') return value;
  return Buffer.isBuffer(value) ? value.toString('utf8') : undefined;
}

/** Whole seconds since the message was published, as Zaqar counts them. */
export function ageSeconds(message: Message, nowMs: number): number {
  return Math.floor(nowMs / 1000) - Math.floor(message.timestamp / 1000);
}

/** A message's path, with the claim that holds it when there is one (Zaqar's href). */
export function messageHref(queuePath: string, id: string, claimId?: string): string {
  const path = `${queuePath}/messages/${id}`;
  return claimId === undefined ? path : `${path}?claim_id=${claimId}`;
}

/** ISO 8601 to the second, UTC (Zaqar's "created"). */
export function createdIso(message: Message): string {
  return `${new Date(Math.floor(message.timestamp / 1000) * 1000).toISOString().slice(0, 19)}Z`;
}
