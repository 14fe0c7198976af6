/**
 * Coalesces outgoing frames: writers encode straight into a shared chunk and everything written in one
 * tick leaves as a single socket write. A flushed region is handed to the socket as a subarray and never
 * touched again; the rest of the chunk keeps being filled, so small frames cost no allocation.
 */
const DEFAULT_CHUNK_SIZE = 256 * 1024;

export class OutputBuffer {
  private buf: Buffer;
  private start = 0;
  /** Next free byte; writers advance it with commit(). */
  pos = 0;
  private scheduled = false;
  private readonly flushBound: () => void;

  constructor(
    private readonly sink: (chunk: Buffer) => void,
    private readonly chunkSize = DEFAULT_CHUNK_SIZE,
  ) {
    this.buf = Buffer.allocUnsafe(chunkSize);
    this.flushBound = () => this.flush();
  }

  /** Makes room for n bytes at `pos` and returns the buffer to write them into; then call commit(). */
  reserve(n: number): Buffer {
    if (this.pos + n > this.buf.length) {
      this.flush();
      this.buf = Buffer.allocUnsafe(Math.max(this.chunkSize, n));
      this.start = 0;
      this.pos = 0;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(this.flushBound);
    }
    return this.buf;
  }

  commit(newPos: number): void {
    this.pos = newPos;
  }

  /** Copies a ready-made frame in. */
  append(frame: Buffer): void {
    const buf = this.reserve(frame.length);
    frame.copy(buf, this.pos);
    this.pos += frame.length;
  }

  /** Bytes written but not yet handed to the socket. */
  get pending(): number {
    return this.pos - this.start;
  }

  flush(): void {
    this.scheduled = false;
    if (this.pos === this.start) return;
    const chunk = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    this.sink(chunk);
  }
}
