/**
 * Splits an AMQP 0-9-1 byte stream into frames: type (u8), channel (u16), size (u32), payload,
 * frame-end 0xCE. Frames that lie inside one socket chunk are handed over in place (chunk + offsets,
 * no copy); only frames spanning chunks are assembled, with one allocation of their exact size.
 *
 * A payload handed to onFrame aliases the socket chunk: copy what must outlive the call
 * (holding a subarray pins the whole chunk).
 */
import { CodecError, CodecReplyCode, frameError } from '../../codec/codec-error.js';

export const FRAME_HEADER_SIZE = 7;
/** Header + frame-end: the bytes of a frame that are not payload. */
export const FRAME_OVERHEAD = 8;
const FRAME_END_OCTET = 0xce;

/** Frame-max before connection.tune-ok: the spec's minimum frame size, as RabbitMQ uses. */
export const DEFAULT_PRE_TUNE_FRAME_MAX = 4096;

/** The only protocol header this server speaks. */
export const AMQP_0_9_1_HEADER: Buffer = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);

export interface FrameHandler {
  /** A complete frame; the payload is buf[start, end). */
  onFrame(type: number, channel: number, buf: Buffer, start: number, end: number): void;
  /** The 8-byte protocol header matched; frames follow. */
  onProtocolHeader?(): void;
  /**
   * The client sent some other protocol header (a copy of its 8 bytes): answer with
   * AMQP_0_9_1_HEADER and close the socket. The parser ignores all further input.
   */
  onProtocolHeaderMismatch?(header: Buffer): void;
}

export interface FrameParserOptions {
  /** Start by reading the 8-byte 'AMQP' 0 0 9 1 header (a server-side connection). Default true. */
  expectProtocolHeader?: boolean;
  /** Largest whole frame accepted (header + payload + frame-end). Default 4096. */
  maxFrameSize?: number;
}

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;

export class FrameParser {
  private readonly handler: FrameHandler;
  private maxPayload: number;
  private awaitingProtocolHeader: boolean;
  private failed = false;

  /** Bytes of a protocol header or frame header cut off at the end of a chunk. */
  private readonly head = Buffer.alloc(8);
  private headLen = 0;

  /** A frame spanning chunks: its payload + frame-end octet, filled up to `partialFill`. */
  private partial: Buffer | null = null;
  private partialFill = 0;
  private partialType = 0;
  private partialChannel = 0;

  constructor(handler: FrameHandler, options: FrameParserOptions = {}) {
    this.handler = handler;
    this.awaitingProtocolHeader = options.expectProtocolHeader ?? true;
    this.maxPayload = 0;
    this.setMaxFrameSize(options.maxFrameSize ?? DEFAULT_PRE_TUNE_FRAME_MAX);
  }

  /** Applies the frame-max negotiated in connection.tune-ok (whole frame size, at least 8). */
  setMaxFrameSize(frameMax: number): void {
    if (!Number.isInteger(frameMax) || frameMax < FRAME_OVERHEAD || frameMax > 0xffff_ffff) {
      throw new RangeError(`frame max must be an integer in [${FRAME_OVERHEAD}, 2^32-1], got ${frameMax}`);
    }
    this.maxPayload = frameMax - FRAME_OVERHEAD;
  }

  get maxFrameSize(): number {
    return this.maxPayload + FRAME_OVERHEAD;
  }

  /** True once a protocol error (or a throwing handler) stopped the parser; input is then ignored. */
  get isFailed(): boolean {
    return this.failed;
  }

  /** Bytes held for a frame not yet complete (for memory accounting and tests). */
  get bufferedBytes(): number {
    return this.headLen + (this.partial === null ? 0 : this.partialFill);
  }

  /**
   * Feeds a chunk. Calls onFrame for each complete frame in order. Throws CodecError 501 for a bad
   * frame (unknown type, oversize, wrong frame-end); after any throw the parser stays failed.
   */
  push(chunk: Buffer): void {
    if (this.failed) return;
    try {
      let i = 0;
      if (this.awaitingProtocolHeader) {
        i = this.readProtocolHeader(chunk);
        if (this.awaitingProtocolHeader || this.failed) return;
      }
      this.parseFrames(chunk, i);
    } catch (err) {
      this.failed = true;
      throw err;
    }
  }

  private readProtocolHeader(chunk: Buffer): number {
    const take = Math.min(8 - this.headLen, chunk.length);
    chunk.copy(this.head, this.headLen, 0, take);
    this.headLen += take;
    if (this.headLen < 8) return take;
    this.headLen = 0;
    if (this.head.equals(AMQP_0_9_1_HEADER)) {
      this.awaitingProtocolHeader = false;
      this.handler.onProtocolHeader?.();
    } else {
      this.failed = true;
      this.handler.onProtocolHeaderMismatch?.(Buffer.from(this.head));
    }
    return take;
  }

  private parseFrames(chunk: Buffer, i: number): void {
    const n = chunk.length;
    const handler = this.handler;
    for (;;) {
      if (this.partial !== null) {
        i = this.fillPartial(chunk, i);
        if (this.partial !== null) return;
        continue;
      }

      let type: number;
      let channel: number;
      let size: number;
      if (this.headLen > 0) {
        // Complete a frame header cut at the end of the previous chunk.
        const take = Math.min(FRAME_HEADER_SIZE - this.headLen, n - i);
        chunk.copy(this.head, this.headLen, i, i + take);
        this.headLen += take;
        i += take;
        if (this.headLen < FRAME_HEADER_SIZE) return;
        this.headLen = 0;
        const h = this.head;
        type = h[0];
        channel = (h[1] << 8) | h[2];
        size = h[3] * 0x100_0000 + ((h[4] << 16) | (h[5] << 8) | h[6]);
      } else {
        const left = n - i;
        if (left === 0) return;
        if (left < FRAME_HEADER_SIZE) {
          chunk.copy(this.head, 0, i, n);
          this.headLen = left;
          return;
        }
        type = chunk[i];
        channel = (chunk[i + 1] << 8) | chunk[i + 2];
        size = chunk[i + 3] * 0x100_0000 + ((chunk[i + 4] << 16) | (chunk[i + 5] << 8) | chunk[i + 6]);
        i += FRAME_HEADER_SIZE;
      }
      this.checkHeader(type, size);

      const end = i + size;
      if (end < n) {
        // Whole frame (including frame-end) is in this chunk: hand it over in place.
        if (chunk[end] !== FRAME_END_OCTET) throw badFrameEnd(chunk[end]);
        const start = i;
        i = end + 1;
        handler.onFrame(type, channel, chunk, start, end);
        continue;
      }
      // The frame spans chunks: assemble it.
      const partial = Buffer.allocUnsafe(size + 1);
      chunk.copy(partial, 0, i, n);
      this.partial = partial;
      this.partialFill = n - i;
      this.partialType = type;
      this.partialChannel = channel;
      return;
    }
  }

  private fillPartial(chunk: Buffer, i: number): number {
    const partial = this.partial!;
    const take = Math.min(partial.length - this.partialFill, chunk.length - i);
    chunk.copy(partial, this.partialFill, i, i + take);
    this.partialFill += take;
    i += take;
    if (this.partialFill < partial.length) return i;
    const size = partial.length - 1;
    if (partial[size] !== FRAME_END_OCTET) throw badFrameEnd(partial[size]);
    this.partial = null;
    this.partialFill = 0;
    this.handler.onFrame(this.partialType, this.partialChannel, partial, 0, size);
    return i;
  }

  private checkHeader(type: number, size: number): void {
    if (size > this.maxPayload) {
      throw frameError(
        `frame payload of ${size} bytes exceeds frame max ${this.maxPayload + FRAME_OVERHEAD}`,
      );
    }
    if (type === FRAME_METHOD || type === FRAME_HEADER || type === FRAME_BODY) return;
    if (type === FRAME_HEARTBEAT) {
      if (size !== 0) throw frameError('heartbeat frame with a payload');
      return;
    }
    throw new CodecError(CodecReplyCode.FRAME_ERROR, `unknown frame type ${type}`);
  }
}

function badFrameEnd(octet: number): CodecError {
  return frameError(`frame end octet 0x${octet.toString(16).padStart(2, '0')} instead of 0xce`);
}
