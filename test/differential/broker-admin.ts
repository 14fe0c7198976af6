import type { BrokerUnderTest } from '../helpers/broker-under-test.js';
import type { RabbitMq } from '../helpers/rabbitmq.js';
import type { BrokerAdmin } from './scenario.js';

const VHOST = '/';
const HTTP_TIMEOUT_MS = 10_000;

/** Administers a RabbitMQ node this process started, through rabbitmqctl; undefined for an external one. */
export function rabbitMqAdmin(rabbit: RabbitMq): BrokerAdmin | undefined {
  if (rabbit.nodeName === undefined) return undefined;
  return {
    async setPolicy(name, pattern, definition) {
      await rabbit.rabbitmqctl([
        'set_policy',
        '--vhost',
        VHOST,
        '--apply-to',
        'queues',
        name,
        pattern,
        JSON.stringify(definition),
      ]);
    },
    async clearPolicy(name) {
      await rabbit.rabbitmqctl(['clear_policy', '--vhost', VHOST, name]);
    },
  };
}

/** Administers EventterMQ through its RabbitMQ-shaped management HTTP API (as guest). */
export function eventterAdmin(broker: BrokerUnderTest): BrokerAdmin {
  const policyUrl = (name: string) =>
    `http://127.0.0.1:${broker.httpPort}/api/policies/${encodeURIComponent(VHOST)}/${encodeURIComponent(name)}`;
  const headers = {
    authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`,
    'content-type': 'application/json',
  };
  const send = async (method: string, name: string, body?: unknown): Promise<void> => {
    const res = await fetch(policyUrl(name), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    if (!res.ok) throw new Error(`${method} ${policyUrl(name)}: HTTP ${res.status} ${await res.text()}`);
  };
  return {
    setPolicy: (name, pattern, definition) =>
      send('PUT', name, { pattern, definition, 'apply-to': 'queues', priority: 0 }),
    clearPolicy: (name) => send('DELETE', name),
  };
}
