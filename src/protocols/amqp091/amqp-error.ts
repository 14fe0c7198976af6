import { isConnectionLevel } from '../../core/errors.js';

/**
 * A protocol error to report to the client: a channel.close for soft codes, a connection.close for hard ones,
 * naming the method that caused it as RabbitMQ does.
 */
export class AmqpError extends Error {
  constructor(
    readonly code: number,
    readonly text: string,
    readonly classId = 0,
    readonly methodId = 0,
  ) {
    super(text);
    this.name = 'AmqpError';
  }

  get connectionLevel(): boolean {
    return isConnectionLevel(this.code);
  }
}
