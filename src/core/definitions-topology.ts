import type { FieldTable } from '../codec/field-table.js';
import { type ItemReader, type ProblemList, quote } from './definitions-fields.js';
import { argumentsFromJson, canonicalJson } from './definitions-format.js';
import { BrokerError } from './errors.js';
import { type ExchangeType, exchangeTypes, isExchangeType, isRoutingType } from './exchange.js';
import { parseQueueArguments } from './queue-arguments.js';
import { isStreamDeclare, parseStreamArguments } from './stream-arguments.js';

/** Exchanges, queues and bindings of a definitions file, read and checked one by one. */

/** Queue and exchange names and routing keys are AMQP short strings. */
const MAX_NAME_BYTES = 255;
export const QUEUE_TYPES = ['classic', 'quorum', 'stream'] as const;
export type QueueType = (typeof QUEUE_TYPES)[number];

export interface PlannedExchange {
  vhost: string;
  name: string;
  type: ExchangeType;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

export interface PlannedQueue {
  vhost: string;
  name: string;
  type: QueueType;
  durable: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
}

export interface PlannedBinding {
  vhost: string;
  source: string;
  destination: string;
  destinationType: 'queue' | 'exchange';
  routingKey: string;
  arguments: FieldTable;
}

type VhostOf = (reader: ItemReader) => string | undefined;

function readArguments(reader: ItemReader): FieldTable | undefined {
  const result = argumentsFromJson(reader.raw('arguments'));
  return 'problem' in result ? reader.fail(result.problem) : result.table;
}

/** The default exchange and amq.* names belong to the broker: RabbitMQ's import skips them too. */
function reserved(name: string): boolean {
  return name === '' || name.startsWith('amq.');
}

export function readExchange(
  reader: ItemReader,
  vhostOf: VhostOf,
  problems: ProblemList,
): [string, PlannedExchange] | undefined {
  const name = reader.text('name', { maxBytes: MAX_NAME_BYTES });
  const vhost = vhostOf(reader);
  if (name === undefined || vhost === undefined) return undefined;
  reader.where = `exchange ${quote(name)} in vhost ${quote(vhost)}`;
  if (reserved(name)) {
    problems.warn(`${reader.where}: skipped (the broker's own; every vhost has it)`);
    return undefined;
  }
  const type = reader.text('type');
  const durable = reader.flag('durable', true);
  const autoDelete = reader.flag('auto_delete', false);
  const internal = reader.flag('internal', false);
  const args = readArguments(reader);
  if (
    type === undefined ||
    durable === undefined ||
    autoDelete === undefined ||
    internal === undefined ||
    args === undefined
  )
    return undefined;
  if (!isExchangeType(type)) {
    return reader.fail(
      `exchange type ${quote(type)} is not supported (EventterMQ has ${exchangeTypes.join(', ')})`,
    );
  }
  if (type === 'x-delayed-message' && !isRoutingType(args['x-delayed-type'])) {
    return reader.fail(`a delayed-message exchange needs x-delayed-type: direct, fanout, topic or headers`);
  }
  return [`${vhost}\u0000${name}`, { vhost, name, type, durable, autoDelete, internal, arguments: args }];
}

export function readQueue(
  reader: ItemReader,
  vhostOf: VhostOf,
  problems: ProblemList,
): [string, PlannedQueue] | undefined {
  const name = reader.text('name', { maxBytes: MAX_NAME_BYTES, nonEmpty: true });
  const vhost = vhostOf(reader);
  if (name === undefined || vhost === undefined) return undefined;
  reader.where = `queue ${quote(name)} in vhost ${quote(vhost)}`;
  if (reserved(name)) {
    problems.warn(`${reader.where}: skipped (amq.* names are the broker's)`);
    return undefined;
  }
  const durable = reader.flag('durable', true);
  const autoDelete = reader.flag('auto_delete', false);
  const args = readArguments(reader);
  const named = reader.text('type', { fallback: '' });
  if (durable === undefined || autoDelete === undefined || args === undefined || named === undefined)
    return undefined;
  const declared = args['x-queue-type'] ?? 'classic';
  if (typeof declared !== 'string' || !(QUEUE_TYPES as readonly string[]).includes(declared)) {
    return reader.fail(
      `queue type ${typeof declared === 'string' ? quote(declared) : 'in x-queue-type'} is not supported (EventterMQ has ${QUEUE_TYPES.join(', ')})`,
    );
  }
  // rabbitmqctl writes "type" too; RabbitMQ's import goes by x-queue-type, so a disagreement is a mistake.
  if (named !== '' && named !== declared) {
    return reader.fail(`type ${quote(named)} disagrees with its x-queue-type argument ${quote(declared)}`);
  }
  const type = declared as QueueType;
  if (type !== 'classic' && (!durable || autoDelete)) {
    return reader.fail(`a ${type} queue must be durable and not auto-delete`);
  }
  try {
    const describe = `queue '${name}' in vhost '${vhost}'`;
    if (isStreamDeclare(args)) parseStreamArguments(args, describe);
    else parseQueueArguments(args, describe);
  } catch (err) {
    if (err instanceof BrokerError) return reader.failNamed(err.text);
    throw err;
  }
  return [`${vhost}\u0000${name}`, { vhost, name, type, durable, autoDelete, arguments: args }];
}

export function readBinding(
  reader: ItemReader,
  vhostOf: VhostOf,
  problems: ProblemList,
): [string, PlannedBinding] | undefined {
  const source = reader.text('source', { maxBytes: MAX_NAME_BYTES });
  const destination = reader.text('destination', { maxBytes: MAX_NAME_BYTES, nonEmpty: true });
  const destinationType = reader.text('destination_type');
  const routingKey = reader.text('routing_key', { fallback: '', maxBytes: MAX_NAME_BYTES });
  const vhost = vhostOf(reader);
  if (
    source === undefined ||
    destination === undefined ||
    destinationType === undefined ||
    routingKey === undefined ||
    vhost === undefined
  )
    return undefined;
  reader.where = `binding of exchange ${quote(source)} to ${destinationType} ${quote(destination)} (routing key ${quote(routingKey)}) in vhost ${quote(vhost)}`;
  if (destinationType !== 'queue' && destinationType !== 'exchange')
    return reader.fail(`destination_type must be "queue" or "exchange"`);
  if (source === '') {
    problems.warn(`${reader.where}: skipped (the default exchange's bindings are implicit)`);
    return undefined;
  }
  const args = readArguments(reader);
  if (args === undefined) return undefined;
  const key = [vhost, source, destinationType, destination, routingKey, canonicalJson(args)].join('\u0000');
  return [key, { vhost, source, destination, destinationType, routingKey, arguments: args }];
}
