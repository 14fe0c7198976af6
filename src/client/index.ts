/** The lean AMQP 0-9-1 client used by `eventter bench` (and usable against any AMQP 0-9-1 broker). */
export { type AmqpEndpoint, parseAmqpUrl } from './amqp-url.js';
export {
  Channel,
  type ConsumeOptions,
  type DeliveredMessage,
  type DeliveryHandler,
  type MessageHandler,
  type QueueDeclareOptions,
} from './channel.js';
export { AmqpClientError, type AmqpClientErrorKind } from './client-error.js';
export { Connection, type ConnectOptions, connect } from './connection.js';
