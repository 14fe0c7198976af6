/**
 * Parses an AMQP URI (amqp://user:pass@host:port/vhost?heartbeat=&frame_max=&channel_max=) as RabbitMQ
 * documents it: an empty path means vhost "/", the vhost segment is percent-decoded.
 */
import { AmqpClientError } from './client-error.js';

export interface AmqpEndpoint {
  host: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
  /** Requested heartbeat in seconds; undefined = accept the broker's offer. */
  heartbeat?: number;
  frameMax?: number;
  channelMax?: number;
}

const DEFAULT_PORT = 5672;
const MAX_URL_LENGTH = 4096;

function queryInt(url: URL, key: string, min: number, max: number): number | undefined {
  const raw = url.searchParams.get(key);
  if (raw === null) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new AmqpClientError('url', `${key} must be an integer in [${min}, ${max}], got ${raw}`);
  }
  return n;
}

export function parseAmqpUrl(text: string): AmqpEndpoint {
  if (text.length > MAX_URL_LENGTH) throw new AmqpClientError('url', 'AMQP URL too long');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AmqpClientError('url', `not a URL: ${text}`);
  }
  if (url.protocol === 'amqps:')
    throw new AmqpClientError('url', 'amqps (TLS) is not supported by this client');
  if (url.protocol !== 'amqp:') throw new AmqpClientError('url', `expected amqp://, got ${url.protocol}//`);
  const path = url.pathname;
  const vhost = path === '' || path === '/' ? '/' : decodeURIComponent(path.slice(1));
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return {
    host: host === '' ? '127.0.0.1' : host,
    port: url.port === '' ? DEFAULT_PORT : Number(url.port),
    username: url.username === '' ? 'guest' : decodeURIComponent(url.username),
    password: url.password === '' && url.username === '' ? 'guest' : decodeURIComponent(url.password),
    vhost,
    heartbeat: queryInt(url, 'heartbeat', 0, 65535),
    frameMax: queryInt(url, 'frame_max', 4096, 0xffff_ffff),
    channelMax: queryInt(url, 'channel_max', 0, 65535),
  };
}
