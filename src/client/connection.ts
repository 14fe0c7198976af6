/**
 * A lean AMQP 0-9-1 client connection: PLAIN login, tune (frame-max, channel-max, heartbeat), channels.
 * Outgoing frames of one tick leave in a single socket write (OutputBuffer); incoming bytes are split
 * by the server's own FrameParser in client mode and dispatched to channels without copying.
 */
import { connect as netConnect, type Socket } from 'node:net';
import type { FieldTable } from '../codec/field-table.js';
import { FrameParser } from '../protocols/amqp091/frame-parser.js';
import { heartbeatFrame, methodFrame } from '../protocols/amqp091/frame-writer.js';
import { type AmqpMethod, decodeMethod, encodeMethod } from '../protocols/amqp091/generated/methods.js';
import { type AmqpEndpoint, parseAmqpUrl } from './amqp-url.js';
import { Channel, type ChannelHost } from './channel.js';
import { AmqpClientError } from './client-error.js';
import { OutputBuffer } from './output-buffer.js';

export interface ConnectOptions {
  /** amqp://user:pass@host:port/vhost; default amqp://guest:guest@127.0.0.1:5672. */
  url?: string;
  /** Heartbeat in seconds; default: whatever the broker offers (0 disables). Overrides the URL. */
  heartbeat?: number;
  /** Largest frame this client accepts; default 131072. */
  frameMax?: number;
  /** Most channels this client opens; default 2047. */
  channelMax?: number;
  /** Give up connecting after this long; default 10,000 ms. */
  connectTimeoutMs?: number;
  /** Largest message body accepted or sent; default 256 MiB. */
  maxBodySize?: number;
  /** Shown by the broker's management tools. */
  connectionName?: string;
  /**
   * Size of the chunk outgoing frames are coalesced into; default 256 KiB. Idle connections held by
   * the thousand (the connections benchmark) want a few KiB instead.
   */
  writeChunkSize?: number;
}

const PROTOCOL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
const DEFAULT_URL = 'amqp://guest:guest@127.0.0.1:5672';
const DEFAULT_FRAME_MAX = 131072;
const DEFAULT_CHANNEL_MAX = 2047;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_BODY = 256 * 1024 * 1024;
const DEFAULT_WRITE_CHUNK_SIZE = 256 * 1024;
const MIN_WRITE_CHUNK_SIZE = 1024;
const MAX_WRITE_CHUNK_SIZE = 64 * 1024 * 1024;
const CLOSE_TIMEOUT_MS = 5_000;
/** Unflushed output above which publishers are told to wait. */
const OUTPUT_HIGH_WATER = 4 * 1024 * 1024;
/** Heartbeat intervals without any input before the broker is presumed dead (the spec says 2). */
const MISSED_HEARTBEATS_LIMIT = 2;

const FRAME_METHOD = 1;
const FRAME_HEADER = 2;
const FRAME_BODY = 3;
const FRAME_HEARTBEAT = 8;

/** Limit negotiation as the spec defines it: 0 means "no limit" on either side. */
function negotiate(ours: number, theirs: number): number {
  if (ours === 0) return theirs;
  if (theirs === 0) return ours;
  return Math.min(ours, theirs);
}

export async function connect(options: string | ConnectOptions = {}): Promise<Connection> {
  const opts = typeof options === 'string' ? { url: options } : options;
  const endpoint = parseAmqpUrl(opts.url ?? DEFAULT_URL);
  const conn = new Connection(endpoint, opts);
  await conn.opened;
  return conn;
}

export class Connection implements ChannelHost {
  readonly out: OutputBuffer;
  frameMax = 4096;
  channelMax = 0;
  heartbeat = 0;
  readonly maxBodySize: number;
  serverProperties: FieldTable = {};
  /** Heartbeat frames received from the broker so far. */
  heartbeatsReceived = 0;
  /** Resolves once connection.open-ok arrived. */
  readonly opened: Promise<void>;
  /** Resolves when the socket is gone, with the reason (null after a clean close by the client). */
  readonly closed: Promise<Error | null>;

  private readonly socket: Socket;
  private readonly parser: FrameParser;
  private readonly channels: (Channel | undefined)[] = [];
  private readonly ackFlushes: Channel[] = [];
  private nextChannelId = 1;
  private openSettle: { resolve: () => void; reject: (e: Error) => void } | null = null;
  private closeOkWaiter: (() => void) | null = null;
  private closeReason: Error | null = null;
  private isClosed = false;
  private isBlocked = false;
  private unblockWaiters: (() => void)[] = [];
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private wroteSinceTick = false;
  private receivedSinceTick = false;
  private silentTicks = 0;
  private readonly connectTimer: NodeJS.Timeout;

  constructor(
    private readonly endpoint: AmqpEndpoint,
    private readonly options: ConnectOptions,
  ) {
    // Validated before the socket exists, so a bad option leaves nothing open.
    const chunkSize = options.writeChunkSize ?? DEFAULT_WRITE_CHUNK_SIZE;
    if (
      !Number.isInteger(chunkSize) ||
      chunkSize < MIN_WRITE_CHUNK_SIZE ||
      chunkSize > MAX_WRITE_CHUNK_SIZE
    ) {
      throw new AmqpClientError(
        'connection',
        `writeChunkSize must be an integer in [${MIN_WRITE_CHUNK_SIZE}, ${MAX_WRITE_CHUNK_SIZE}]`,
      );
    }
    this.maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY;
    this.parser = new FrameParser(this, { expectProtocolHeader: false });
    this.socket = netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true });
    this.out = new OutputBuffer((chunk) => {
      this.wroteSinceTick = true;
      if (!this.isClosed) this.socket.write(chunk);
    }, chunkSize);
    this.opened = new Promise<void>((resolve, reject) => {
      this.openSettle = { resolve, reject };
    });
    // Callers that never await `opened` must not see an unhandled rejection.
    this.opened.catch(() => {});
    this.closed = new Promise<Error | null>((resolve) => {
      this.socket.once('close', () => {
        this.isClosed = true;
        const reason = this.closeReason;
        this.teardown(reason ?? new AmqpClientError('closed', 'connection closed'));
        resolve(reason);
      });
    });
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    this.connectTimer = setTimeout(() => {
      this.fail(new AmqpClientError('timeout', `no AMQP handshake within ${timeoutMs} ms`));
    }, timeoutMs);
    this.socket.once('connect', () => this.socket.write(PROTOCOL_HEADER));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err) => this.fail(new AmqpClientError('connection', err.message)));
  }

  get backedUp(): boolean {
    return this.isBlocked || this.socket.writableNeedDrain || this.out.pending > OUTPUT_HIGH_WATER;
  }

  /** True while the broker has sent connection.blocked (e.g. a memory or disk alarm). */
  get blocked(): boolean {
    return this.isBlocked;
  }

  get isOpen(): boolean {
    return !this.isClosed && this.closeReason === null && this.openSettle === null;
  }

  /** Resolves when publishing may continue: output drained and the broker not blocking us. */
  async drained(): Promise<void> {
    this.out.flush();
    while (!this.isClosed && (this.socket.writableNeedDrain || this.isBlocked)) {
      if (this.isBlocked) {
        await new Promise<void>((resolve) => this.unblockWaiters.push(resolve));
      } else {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.socket.off('drain', done);
            this.socket.off('close', done);
            resolve();
          };
          this.socket.once('drain', done);
          this.socket.once('close', done);
        });
      }
    }
    if (this.isClosed) throw this.closeReason ?? new AmqpClientError('closed', 'connection closed');
  }

  async createChannel(): Promise<Channel> {
    if (!this.isOpen) throw this.closeReason ?? new AmqpClientError('closed', 'connection is not open');
    const id = this.allocateChannelId();
    const channel = new Channel(id, this);
    this.channels[id] = channel;
    await channel.open();
    return channel;
  }

  /** Closes gracefully (connection.close, wait for close-ok), then ends the socket. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    if (this.closeReason === null) {
      const ok = new Promise<void>((resolve) => {
        this.closeOkWaiter = resolve;
      });
      this.sendMethod(0, {
        name: 'connection.close',
        classId: 10,
        methodId: 50,
        replyCode: 200,
        replyText: 'bye',
        failingClassId: 0,
        failingMethodId: 0,
      });
      const timer = setTimeout(() => this.closeOkWaiter?.(), CLOSE_TIMEOUT_MS);
      await Promise.race([ok, this.closed]);
      clearTimeout(timer);
    }
    this.socket.end();
    this.socket.destroySoon();
    await this.closed;
  }

  /** Drops the connection at once (no close handshake); pending operations fail. */
  destroy(reason = 'connection destroyed by the client'): void {
    if (this.closeReason === null) this.closeReason = new AmqpClientError('closed', reason);
    this.socket.destroy();
  }

  // ---- ChannelHost

  sendMethod(channel: number, method: AmqpMethod): void {
    this.out.append(methodFrame(channel, encodeMethod(method)));
  }

  channelClosed(channel: Channel): void {
    if (this.channels[channel.id] === channel) this.channels[channel.id] = undefined;
  }

  scheduleAckFlush(channel: Channel): void {
    this.ackFlushes.push(channel);
  }

  // ---- FrameHandler

  onFrame(type: number, channelId: number, buf: Buffer, start: number, end: number): void {
    if (channelId === 0) {
      if (type === FRAME_METHOD) this.onConnectionMethod(decodeMethod(buf, start, end));
      else if (type === FRAME_HEARTBEAT) this.heartbeatsReceived++;
      else throw new AmqpClientError('protocol', `frame type ${type} on channel 0`);
      return;
    }
    const channel = this.channels[channelId];
    // Frames for a channel we already closed (in flight when we closed it) are dropped.
    if (channel === undefined) return;
    if (type === FRAME_METHOD) channel.onMethodFrame(buf, start, end);
    else if (type === FRAME_BODY) channel.onBodyFrame(buf, start, end);
    else if (type === FRAME_HEADER) channel.onHeaderFrame(buf, start, end);
    else throw new AmqpClientError('protocol', `frame type ${type} on channel ${channelId}`);
  }

  private onData(chunk: Buffer): void {
    this.receivedSinceTick = true;
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.fail(
        err instanceof AmqpClientError
          ? err
          : new AmqpClientError('protocol', (err as Error).message ?? String(err)),
      );
      return;
    }
    // One multiple-ack per chunk for batch-acking consumers.
    const flushes = this.ackFlushes;
    for (let i = 0; i < flushes.length; i++) flushes[i].flushAcks();
    flushes.length = 0;
  }

  private onConnectionMethod(m: AmqpMethod): void {
    switch (m.name) {
      case 'connection.start': {
        const mechanisms = m.mechanisms.toString('utf8').split(' ');
        if (!mechanisms.includes('PLAIN')) {
          throw new AmqpClientError('connection', `broker offers no PLAIN login (${mechanisms.join(', ')})`);
        }
        this.serverProperties = m.serverProperties;
        const { username, password } = this.endpoint;
        this.sendMethod(0, {
          name: 'connection.start-ok',
          classId: 10,
          methodId: 11,
          clientProperties: this.clientProperties(),
          mechanism: 'PLAIN',
          response: Buffer.from(`\0${username}\0${password}`, 'utf8'),
          locale: 'en_US',
        });
        return;
      }
      case 'connection.tune': {
        const wantFrameMax = this.options.frameMax ?? this.endpoint.frameMax ?? DEFAULT_FRAME_MAX;
        const wantChannelMax = this.options.channelMax ?? this.endpoint.channelMax ?? DEFAULT_CHANNEL_MAX;
        const wantHeartbeat = this.options.heartbeat ?? this.endpoint.heartbeat;
        this.frameMax = negotiate(wantFrameMax, m.frameMax);
        this.channelMax = negotiate(wantChannelMax, m.channelMax) || 65535;
        if (wantHeartbeat === undefined) this.heartbeat = m.heartbeat;
        else this.heartbeat = wantHeartbeat === 0 ? 0 : negotiate(wantHeartbeat, m.heartbeat);
        this.parser.setMaxFrameSize(this.frameMax);
        this.sendMethod(0, {
          name: 'connection.tune-ok',
          classId: 10,
          methodId: 31,
          channelMax: this.channelMax,
          frameMax: this.frameMax,
          heartbeat: this.heartbeat,
        });
        this.sendMethod(0, {
          name: 'connection.open',
          classId: 10,
          methodId: 40,
          virtualHost: this.endpoint.vhost,
        });
        this.startHeartbeats();
        return;
      }
      case 'connection.open-ok': {
        clearTimeout(this.connectTimer);
        const settle = this.openSettle;
        this.openSettle = null;
        settle?.resolve();
        return;
      }
      case 'connection.close': {
        this.sendMethod(0, { name: 'connection.close-ok', classId: 10, methodId: 51 });
        this.out.flush();
        this.fail(
          new AmqpClientError(
            'connection',
            `connection closed by the broker: ${m.replyCode} ${m.replyText}`,
            m.replyCode,
          ),
        );
        return;
      }
      case 'connection.close-ok':
        this.closeOkWaiter?.();
        return;
      case 'connection.blocked':
        this.isBlocked = true;
        return;
      case 'connection.unblocked': {
        this.isBlocked = false;
        const waiters = this.unblockWaiters.splice(0);
        for (const w of waiters) w();
        return;
      }
      default:
        throw new AmqpClientError('protocol', `unexpected ${m.name} on channel 0`);
    }
  }

  private clientProperties(): FieldTable {
    return {
      product: 'EventterMQ lean client',
      platform: `Node.js ${process.version}`,
      connection_name: this.options.connectionName ?? 'eventter bench',
      capabilities: {
        publisher_confirms: true,
        'basic.nack': true,
        consumer_cancel_notify: true,
        'connection.blocked': true,
        authentication_failure_close: true,
        per_consumer_qos: true,
      },
    };
  }

  private allocateChannelId(): number {
    for (let tries = 0; tries < this.channelMax; tries++) {
      const id = this.nextChannelId;
      this.nextChannelId = id >= this.channelMax ? 1 : id + 1;
      if (this.channels[id] === undefined) return id;
    }
    throw new AmqpClientError('connection', `all ${this.channelMax} channels are in use`);
  }

  private startHeartbeats(): void {
    if (this.heartbeat === 0) return;
    // Tick twice per interval: send when we were idle, count intervals the broker stayed silent.
    this.heartbeatTimer = setInterval(
      () => {
        if (!this.wroteSinceTick) this.out.append(heartbeatFrame());
        this.wroteSinceTick = false;
        if (this.receivedSinceTick) this.silentTicks = 0;
        else if (++this.silentTicks >= MISSED_HEARTBEATS_LIMIT * 2) {
          this.fail(
            new AmqpClientError(
              'timeout',
              `no data from the broker for ${MISSED_HEARTBEATS_LIMIT} heartbeats`,
            ),
          );
        }
        this.receivedSinceTick = false;
      },
      (this.heartbeat * 1000) / 2,
    );
    this.heartbeatTimer.unref();
  }

  /** Records why the connection failed and destroys the socket; 'close' does the rest. */
  private fail(err: Error): void {
    if (this.closeReason === null) this.closeReason = err;
    const settle = this.openSettle;
    this.openSettle = null;
    settle?.reject(err);
    this.socket.destroySoon();
    // destroySoon waits for pending writes; a dead peer may never take them.
    setTimeout(() => this.socket.destroy(), CLOSE_TIMEOUT_MS).unref();
  }

  private teardown(err: Error): void {
    clearTimeout(this.connectTimer);
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    const settle = this.openSettle;
    this.openSettle = null;
    settle?.reject(err);
    for (const channel of this.channels) channel?.shutdown(err);
    const waiters = this.unblockWaiters.splice(0);
    for (const w of waiters) w();
  }
}
