import { Socket } from 'node:net';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';

/**
 * A deliberately tiny AMQP 0-9-1 client over a raw socket, for tests that must send what a real
 * client never would (bad frames, wrong headers, half frames) or must read reply codes amqplib hides
 * (errors during the opening handshake). Independent of the project's own codec on purpose.
 */

export const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
export const FRAME_METHOD = 1;
export const FRAME_HEADER = 2;
export const FRAME_BODY = 3;
export const FRAME_HEARTBEAT = 8;
export const FRAME_END = 0xce;

export interface RawFrame {
  type: number;
  channel: number;
  payload: Buffer;
}

export interface CloseReason {
  replyCode: number;
  replyText: string;
  classId: number;
  methodId: number;
}

export function frame(type: number, channel: number, payload: Buffer, frameEnd = FRAME_END): Buffer {
  const out = Buffer.alloc(8 + payload.length);
  out.writeUInt8(type, 0);
  out.writeUInt16BE(channel, 1);
  out.writeUInt32BE(payload.length, 3);
  payload.copy(out, 7);
  out.writeUInt8(frameEnd, 7 + payload.length);
  return out;
}

/** A method frame: class id, method id, then the already-encoded arguments. */
export function methodFrame(
  channel: number,
  classId: number,
  methodId: number,
  args: Buffer = Buffer.alloc(0),
) {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(classId, 0);
  head.writeUInt16BE(methodId, 2);
  return frame(FRAME_METHOD, channel, Buffer.concat([head, args]));
}

/** Argument encoders, enough for the handful of methods the raw tests send. */
export const arg = {
  octet(v: number): Buffer {
    return Buffer.from([v]);
  },
  short(v: number): Buffer {
    const b = Buffer.alloc(2);
    b.writeUInt16BE(v);
    return b;
  },
  long(v: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  },
  longlong(v: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(v));
    return b;
  },
  shortstr(s: string): Buffer {
    const body = Buffer.from(s, 'utf8');
    return Buffer.concat([Buffer.from([body.length]), body]);
  },
  longstr(s: string | Buffer): Buffer {
    const body = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
    return Buffer.concat([arg.long(body.length), body]);
  },
  emptyTable(): Buffer {
    return arg.long(0);
  },
};

export const methods = {
  startOk(user: string, pass: string): Buffer {
    return methods.startOkWith('PLAIN', Buffer.from(`\u0000${user}\u0000${pass}`, 'utf8'));
  },
  /** start-ok with any mechanism and response (malformed ones included). */
  startOkWith(mechanism: string, response: Buffer | string): Buffer {
    // client-properties = { capabilities: { authentication_failure_close: true } }, so a refused login is
    // answered with connection.close 403 rather than a dropped socket.
    const capability = Buffer.concat([
      arg.shortstr('authentication_failure_close'),
      Buffer.from('t'),
      arg.octet(1),
    ]);
    const capabilities = Buffer.concat([
      arg.shortstr('capabilities'),
      Buffer.from('F'),
      arg.long(capability.length),
      capability,
    ]);
    return methodFrame(
      0,
      10,
      11,
      Buffer.concat([
        arg.long(capabilities.length),
        capabilities,
        arg.shortstr(mechanism),
        arg.longstr(response),
        arg.shortstr('en_US'),
      ]),
    );
  },
  tuneOk(channelMax: number, frameMax: number, heartbeat: number): Buffer {
    return methodFrame(
      0,
      10,
      31,
      Buffer.concat([arg.short(channelMax), arg.long(frameMax), arg.short(heartbeat)]),
    );
  },
  connectionOpen(vhost: string): Buffer {
    return methodFrame(0, 10, 40, Buffer.concat([arg.shortstr(vhost), arg.shortstr(''), arg.octet(0)]));
  },
  connectionClose(code = 200, text = 'bye'): Buffer {
    return methodFrame(
      0,
      10,
      50,
      Buffer.concat([arg.short(code), arg.shortstr(text), arg.short(0), arg.short(0)]),
    );
  },
  connectionCloseOk(): Buffer {
    return methodFrame(0, 10, 51);
  },
  channelOpen(channel: number): Buffer {
    return methodFrame(channel, 20, 10, arg.shortstr(''));
  },
  channelCloseOk(channel: number): Buffer {
    return methodFrame(channel, 20, 41);
  },
  queueDeclare(channel: number, queue: string): Buffer {
    // reserved short, name, bits (passive, durable, exclusive, auto-delete, no-wait), arguments
    return methodFrame(
      channel,
      50,
      10,
      Buffer.concat([arg.short(0), arg.shortstr(queue), arg.octet(0), arg.emptyTable()]),
    );
  },
  basicPublish(channel: number, exchange: string, routingKey: string): Buffer {
    return methodFrame(
      channel,
      60,
      40,
      Buffer.concat([arg.short(0), arg.shortstr(exchange), arg.shortstr(routingKey), arg.octet(0)]),
    );
  },
  contentHeader(channel: number, bodySize: number): Buffer {
    // class 60, weight 0, body size, no properties
    return frame(
      FRAME_HEADER,
      channel,
      Buffer.concat([arg.short(60), arg.short(0), arg.longlong(bodySize), arg.short(0)]),
    );
  },
  body(channel: number, content: Buffer): Buffer {
    return frame(FRAME_BODY, channel, content);
  },
};

export interface Tune {
  channelMax: number;
  frameMax: number;
  heartbeat: number;
}

export interface HandshakeOptions {
  user?: string;
  pass?: string;
  vhost?: string;
  channelMax?: number;
  frameMax?: number;
  heartbeat?: number;
  /** Stop after tune-ok + connection.open are sent, without waiting for open-ok. */
  skipOpenOk?: boolean;
}

const READ_TIMEOUT_MS = 5_000;

export class RawAmqpClient {
  private buffered: Buffer = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;
  readonly socket: Socket;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.poke();
    });
    socket.on('close', () => {
      this.ended = true;
      this.poke();
    });
    socket.on('error', () => {
      this.ended = true;
      this.poke();
    });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawAmqpClient> {
    return new Promise((resolve, reject) => {
      const socket = new Socket();
      socket.once('error', reject);
      socket.connect(port, host, () => {
        socket.off('error', reject);
        resolve(new RawAmqpClient(socket));
      });
    });
  }

  /** The same over TLS; resolves once the handshake is done. */
  static connectTls(options: ConnectionOptions): Promise<RawAmqpClient> {
    return new Promise((resolve, reject) => {
      const socket = connectTls(options, () => {
        socket.off('error', reject);
        resolve(new RawAmqpClient(socket));
      });
      socket.once('error', reject);
    });
  }

  private poke(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  get isClosed(): boolean {
    return this.ended;
  }

  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) return resolve();
      this.socket.write(bytes, () => resolve());
    });
  }

  /** Waits until at least `n` bytes are buffered (or the socket ends), then takes up to `n`. */
  async readBytes(n: number, timeoutMs = READ_TIMEOUT_MS): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered.length < n && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.buffered.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const take = Math.min(n, this.buffered.length);
    const out = this.buffered.subarray(0, take);
    this.buffered = this.buffered.subarray(take);
    return out;
  }

  /** Next frame, or undefined if the server closed the socket first. */
  async readFrame(timeoutMs = READ_TIMEOUT_MS): Promise<RawFrame | undefined> {
    const head = await this.readBytes(7, timeoutMs);
    if (head.length < 7) return undefined;
    const size = head.readUInt32BE(3);
    const rest = await this.readBytes(size + 1, timeoutMs);
    if (rest.length < size + 1) return undefined;
    if (rest[size] !== FRAME_END) throw new Error(`server sent a bad frame-end octet ${rest[size]}`);
    return { type: head[0], channel: head.readUInt16BE(1), payload: rest.subarray(0, size) };
  }

  /** Next method frame on any channel, skipping heartbeats and content. */
  async readMethod(
    timeoutMs = READ_TIMEOUT_MS,
  ): Promise<{ channel: number; classId: number; methodId: number; args: Buffer } | undefined> {
    for (;;) {
      const f = await this.readFrame(timeoutMs);
      if (f === undefined) return undefined;
      if (f.type !== FRAME_METHOD) continue;
      return {
        channel: f.channel,
        classId: f.payload.readUInt16BE(0),
        methodId: f.payload.readUInt16BE(2),
        args: f.payload.subarray(4),
      };
    }
  }

  /** Reads until a method with the given ids arrives; fails on anything else but heartbeats. */
  async expectMethod(classId: number, methodId: number, timeoutMs = READ_TIMEOUT_MS): Promise<Buffer> {
    const m = await this.readMethod(timeoutMs);
    if (m === undefined) throw new Error(`socket closed while waiting for method ${classId}.${methodId}`);
    if (m.classId !== classId || m.methodId !== methodId) {
      const extra = m.classId === 10 && m.methodId === 50 ? ` ${JSON.stringify(decodeClose(m.args))}` : '';
      throw new Error(`expected method ${classId}.${methodId}, got ${m.classId}.${m.methodId}${extra}`);
    }
    return m.args;
  }

  /** Opening handshake as far as connection.open-ok; returns what the server proposed in tune. */
  async handshake(opts: HandshakeOptions = {}): Promise<Tune> {
    await this.write(PROTOCOL_HEADER);
    await this.expectMethod(10, 10);
    await this.write(methods.startOk(opts.user ?? 'guest', opts.pass ?? 'guest'));
    const tuneArgs = await this.expectMethod(10, 30);
    const proposed: Tune = {
      channelMax: tuneArgs.readUInt16BE(0),
      frameMax: tuneArgs.readUInt32BE(2),
      heartbeat: tuneArgs.readUInt16BE(6),
    };
    await this.write(
      methods.tuneOk(
        opts.channelMax ?? proposed.channelMax,
        opts.frameMax ?? proposed.frameMax,
        opts.heartbeat ?? 0,
      ),
    );
    await this.write(methods.connectionOpen(opts.vhost ?? '/'));
    if (!opts.skipOpenOk) await this.expectMethod(10, 41);
    return proposed;
  }

  async openChannel(channel: number): Promise<void> {
    await this.write(methods.channelOpen(channel));
    await this.expectMethod(20, 11);
  }

  /**
   * Reads until the server sends connection.close, answers close-ok and returns the reason.
   * Returns undefined if the socket closed without a connection.close.
   */
  async readConnectionClose(timeoutMs = READ_TIMEOUT_MS): Promise<CloseReason | undefined> {
    for (;;) {
      const m = await this.readMethod(timeoutMs);
      if (m === undefined) return undefined;
      if (m.classId === 10 && m.methodId === 50) {
        await this.write(methods.connectionCloseOk());
        return decodeClose(m.args);
      }
    }
  }

  /** Reads until the server sends channel.close on `channel`, answers close-ok and returns the reason. */
  async readChannelClose(channel: number, timeoutMs = READ_TIMEOUT_MS): Promise<CloseReason> {
    for (;;) {
      const m = await this.readMethod(timeoutMs);
      if (m === undefined) throw new Error('socket closed while waiting for channel.close');
      if (m.classId === 10 && m.methodId === 50) {
        throw new Error(`connection closed instead of channel: ${JSON.stringify(decodeClose(m.args))}`);
      }
      if (m.channel === channel && m.classId === 20 && m.methodId === 40) {
        await this.write(methods.channelCloseOk(channel));
        return decodeClose(m.args);
      }
    }
  }

  /** Resolves once the server has closed the TCP connection. */
  async waitForSocketClose(timeoutMs = READ_TIMEOUT_MS): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('server did not close the socket');
      await this.readBytes(Number.MAX_SAFE_INTEGER, deadline - Date.now()).catch(() => undefined);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function decodeClose(args: Buffer): CloseReason {
  const replyCode = args.readUInt16BE(0);
  const textLength = args.readUInt8(2);
  const replyText = args.subarray(3, 3 + textLength).toString('utf8');
  const at = 3 + textLength;
  return { replyCode, replyText, classId: args.readUInt16BE(at), methodId: args.readUInt16BE(at + 2) };
}
