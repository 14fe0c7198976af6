import type { Packet } from 'mqtt-packet';

/** Packets queued behind an asynchronous one (SUBSCRIBE, CONNECT) before the connection stops reading. */
const MAX_BACKLOG = 1000;

export interface PacketHandler {
  /** Handles one packet; a promise holds back the packets after it until it settles. */
  handle(packet: Packet): Promise<void> | undefined;
  /** A handler threw or its promise rejected: the connection ends. */
  fail(err: unknown): void;
  /** Too many packets wait (true) or few enough again (false): stop or resume reading the socket. */
  backlogFull(full: boolean): void;
  /** Whether the connection still takes packets. */
  accepting(): boolean;
}

/**
 * Runs a connection's packets strictly in arrival order: most are handled at once, and one that waits on the
 * store (a SUBSCRIBE declaring and binding its queue) holds back those after it, so a PUBLISH that follows
 * a SUBSCRIBE is routed to the new subscription. The queue is bounded: past MAX_BACKLOG the socket pauses.
 */
export class OrderedPackets {
  private readonly backlog: Packet[] = [];
  private busy = false;
  private full = false;

  constructor(private readonly handler: PacketHandler) {}

  push(packet: Packet): void {
    if (!this.handler.accepting()) return;
    if (this.busy || this.backlog.length > 0) {
      this.backlog.push(packet);
      if (this.backlog.length >= MAX_BACKLOG && !this.full) {
        this.full = true;
        this.handler.backlogFull(true);
      }
      return;
    }
    this.run(packet);
  }

  /** Drops what waits (the connection ended). */
  clear(): void {
    this.backlog.length = 0;
  }

  private run(packet: Packet): void {
    let pending: Promise<void> | undefined;
    try {
      pending = this.handler.handle(packet);
    } catch (err) {
      this.handler.fail(err);
      return;
    }
    if (!pending) return;
    this.busy = true;
    pending.then(
      () => {
        this.busy = false;
        this.runBacklog();
      },
      (err: unknown) => {
        this.busy = false;
        this.handler.fail(err);
      },
    );
  }

  private runBacklog(): void {
    while (!this.busy && this.backlog.length > 0 && this.handler.accepting()) this.run(this.backlog.shift()!);
    if (this.full && this.backlog.length < MAX_BACKLOG / 2) {
      this.full = false;
      this.handler.backlogFull(false);
    }
  }
}
