/** Why a client operation failed: what the broker said (reply code) or what went wrong locally. */
export type AmqpClientErrorKind = 'url' | 'connection' | 'channel' | 'protocol' | 'timeout' | 'closed';

export class AmqpClientError extends Error {
  override readonly name = 'AmqpClientError';

  constructor(
    readonly kind: AmqpClientErrorKind,
    message: string,
    /** The AMQP reply code from connection.close / channel.close, 0 when the error is local. */
    readonly replyCode = 0,
  ) {
    super(message);
  }
}
