import { createRequire } from 'node:module';
import type { FieldTable } from '../../codec/field-table.js';

const version: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../../../package.json') as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

export const brokerVersion = version;

/** What connection.start advertises: our identity and the RabbitMQ extensions we implement. */
export function serverProperties(clusterName: string): FieldTable {
  return {
    product: 'EventterMQ',
    version,
    platform: `Node.js ${process.version}`,
    copyright: 'EventterMQ contributors',
    information: 'Licensed under the Apache License 2.0',
    cluster_name: clusterName,
    capabilities: {
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      'connection.blocked': true,
      authentication_failure_close: true,
      per_consumer_qos: true,
      direct_reply_to: false,
    },
  };
}
