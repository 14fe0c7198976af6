/**
 * Timing of a client-initiated connection.close (see AmqpConnection.onClientClose).
 *
 * RabbitMQ 3.10, measured with a raw socket: after connection.close-ok it leaves the TCP connection for the
 * client to close and resets it itself only after the heartbeat timeout, capped at 30 s (heartbeat 0 or
 * >= 30: 30 s; heartbeat 1, 2, 5: 1, 2, 5 s).
 */
const RABBITMQ_CLOSING_TIMEOUT_S = 30;

/** How long after close-ok the client may take to close the socket before the server resets it. */
export function closeGraceMs(heartbeatSeconds: number): number {
  const s =
    heartbeatSeconds > 0 && heartbeatSeconds < RABBITMQ_CLOSING_TIMEOUT_S
      ? heartbeatSeconds
      : RABBITMQ_CLOSING_TIMEOUT_S;
  return s * 1000;
}

/**
 * After the client's connection.close, its basic.ack/nack/reject frames still take effect until it closes the
 * socket, for at most this long; then whatever is unacked is requeued. Some clients put acks on the wire after
 * their connection.close (amqplib writes channel frames and channel 0 round-robin, so up to a prefetch's worth of
 * acks can trail the close); RabbitMQ discards those and redelivers the messages. 0 comes close to that.
 */
export const SETTLE_AFTER_CLOSE_MS = 1000;

/** basic.ack (60.80), basic.reject (60.90) or basic.nack (60.120), judged by a method frame's first 4 bytes. */
export function isSettlement(payload: Buffer, start: number, end: number): boolean {
  if (end - start < 4 || payload.readUInt16BE(start) !== 60) return false;
  const method = payload.readUInt16BE(start + 2);
  return method === 80 || method === 90 || method === 120;
}

/** What a ClientClose needs from its connection. */
export interface ClientCloseHooks {
  /** Writes connection.close-ok; after it the connection writes nothing. */
  sendCloseOk(): void;
  /** Settle window over: requeue what is still unacked, stop reading. */
  release(): void;
  /** The client kept the socket past the grace period. */
  reset(): void;
}

/** A channel as the close sequence sees it. */
export interface ClosingChannel {
  stopForConnectionClose(done: () => void): void;
}

/**
 * One client-initiated close: close-ok once every channel has run the frames it had queued, the settle window,
 * then the grace period after which the server resets a socket the client has not closed.
 */
export class ClientClose {
  private settleTimer: NodeJS.Timeout | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  private closeOkSent = false;

  constructor(
    private readonly hooks: ClientCloseHooks,
    private readonly graceMs: number,
  ) {}

  /** Output ends with close-ok. */
  get outputClosed(): boolean {
    return this.closeOkSent;
  }

  start(channels: Iterable<ClosingChannel>): void {
    this.settleTimer = setTimeout(() => {
      this.sendCloseOk(); // in case a channel's asynchronous method never finished
      this.hooks.release();
    }, SETTLE_AFTER_CLOSE_MS);
    this.settleTimer.unref();
    let waiting = 1;
    const stopped = (): void => {
      if (--waiting === 0) this.sendCloseOk();
    };
    for (const ch of channels) {
      waiting++;
      ch.stopForConnectionClose(stopped);
    }
    stopped();
  }

  /** The socket is gone. */
  stop(): void {
    clearTimeout(this.settleTimer);
    clearTimeout(this.graceTimer);
  }

  private sendCloseOk(): void {
    if (this.closeOkSent) return;
    this.hooks.sendCloseOk();
    this.closeOkSent = true;
    this.graceTimer = setTimeout(() => this.hooks.reset(), this.graceMs);
    this.graceTimer.unref();
  }
}
