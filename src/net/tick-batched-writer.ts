import type { Writable } from 'node:stream';

/**
 * Writes to a socket so that everything written during one tick leaves in one corked batch: many small
 * frames or packets of one tick become one syscall.
 */
export class TickBatchedWriter {
  private corked = false;

  constructor(private readonly stream: Writable) {}

  /** Queues bytes; false once the stream's buffer is full (wait for 'drain'). */
  write(buf: Buffer): boolean {
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(() => {
        this.corked = false;
        this.stream.uncork();
      });
    }
    return this.stream.write(buf);
  }
}
