import type { Duplex } from 'node:stream';
import mqttPacket, { type IConnectPacket, type IDisconnectPacket, type Packet } from 'mqtt-packet';
import type { Logger } from 'pino';
import type { Broker } from '../../core/broker.js';
import type { VHost } from '../../core/vhost.js';
import { TickBatchedWriter } from '../../net/tick-batched-writer.js';
import { InboundPublisher } from './inbound-publish.js';
import {
  authenticateConnect,
  type ConnectRefusal,
  connackFor,
  connectSettings,
  type MqttLogin,
} from './mqtt-connect.js';
import { MAX_PACKET_BYTES_BEFORE_CONNECT, type MqttSettings } from './mqtt-options.js';
import { MqttSession } from './mqtt-session.js';
import { OrderedPackets } from './ordered-packets.js';
import { PacketFramer, topicsAreUtf8 } from './packet-framer.js';
import { encodeControl, PINGRESP } from './packet-writer.js';
import { ConnackV3, connackV3Code, MqttProtocolError, Reason } from './reason-codes.js';
import type { RetainedStore } from './retained-store.js';
import type { SessionDirectory, SessionHolder } from './session-directory.js';
import type { SessionStore } from './session-store.js';
import { publishWill, type WillMessage } from './will.js';

export interface MqttConnectionContext {
  broker: Broker;
  settings: MqttSettings;
  directory: SessionDirectory;
  sessions: SessionStore;
  retained: RetainedStore;
  logger: Logger;
  onClosed(connection: MqttConnection): void;
}

type State = 'awaiting-connect' | 'connecting' | 'open' | 'closed';

let nextConnectionId = 1;

/**
 * One MQTT connection: framing and decoding (mqtt-packet), the CONNECT handshake, keep-alive, packets handled
 * strictly in order (one waiting on the store holds back those after it), coalesced writes, and the end of the
 * connection: its session detached, its will published, protocol violations answered with the right reason
 * (a DISCONNECT in MQTT 5, a plain close in 3.1.1).
 */
export class MqttConnection implements SessionHolder {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string | undefined;
  version = 4;
  /** Time of the last bytes received (ms), for keep-alive. */
  lastActivity = Date.now();
  /** The keep-alive the client asked for, in ms; 0 = none. */
  keepAliveMs = 0;
  /** Whether the client ever published (the resource alarm stops reading from publishers). */
  published = false;
  private state: State = 'awaiting-connect';
  private readonly framer = new PacketFramer(MAX_PACKET_BYTES_BEFORE_CONNECT);
  private readonly parser = mqttPacket.parser();
  private session: MqttSession | undefined;
  private publisher: InboundPublisher | undefined;
  private login: MqttLogin | undefined;
  private vhost: VHost | undefined;
  private will: WillMessage | undefined;
  private writable = true;
  private readonly output: TickBatchedWriter;
  private readonly packets: OrderedPackets;
  private pausedForBacklog = false;
  private pausedForAcks = false;
  private pausedForAlarm = false;
  private alarm = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  /** The CONNECT being handled: teardown waits for it, so a session is never detached while it opens. */
  private connecting: Promise<void> | undefined;
  private torndown = false;
  private socketEnded = false;
  private readonly teardownDone: Promise<void>;
  private resolveTeardown!: () => void;

  constructor(
    /** A TCP or TLS socket, or a WebSocket's byte stream. */
    private readonly socket: Duplex & { setNoDelay?(noDelay: boolean): unknown },
    private readonly ctx: MqttConnectionContext,
    remoteAddress: string | undefined,
  ) {
    this.remoteAddress = remoteAddress;
    this.output = new TickBatchedWriter(socket);
    this.teardownDone = new Promise((resolve) => {
      this.resolveTeardown = resolve;
    });
    this.packets = new OrderedPackets({
      handle: (packet) => this.handle(packet),
      fail: (err) => this.failWith(err),
      backlogFull: (full) => {
        this.pausedForBacklog = full;
        this.updateReading();
      },
      accepting: () => !this.isClosed,
    });
    this.parser.on('packet', (packet: Packet) => this.packets.push(packet));
    this.parser.on('error', (err: Error) => this.onParseError(err));
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => ctx.logger.debug({ err, connection: this.id }, 'socket error'));
    socket.on('close', () => this.onSocketClosed());
    this.handshakeTimer = setTimeout(() => {
      if (this.state === 'awaiting-connect') {
        ctx.logger.info({ connection: this.id, remote: this.remoteAddress }, 'MQTT handshake timeout');
        this.socket.destroy();
      }
    }, ctx.settings.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  private get isClosed(): boolean {
    return this.state === 'closed';
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get isWritable(): boolean {
    return this.writable;
  }

  get owner(): object {
    return this;
  }

  /** Resolves once the connection is closed and its session detached. */
  get closed(): Promise<void> {
    return this.teardownDone;
  }

  /** Keep-alive: 1.5 times the client's interval without a packet ends the connection (MQTT's rule). */
  checkKeepAlive(now: number): void {
    if (this.state !== 'open' || this.keepAliveMs === 0 || this.pausedForAlarm || this.pausedForAcks) return;
    if (now - this.lastActivity > this.keepAliveMs * 1.5)
      this.end(Reason.keepAliveTimeout, 'keep-alive timeout');
  }

  /** Resource alarm: stop reading from clients that publish until it clears. */
  setBlocked(blocked: boolean): void {
    this.alarm = blocked;
    this.pausedForAlarm = blocked && this.published;
    if (!blocked) this.lastActivity = Date.now();
    this.updateReading();
  }

  /** Another connection took the client id. */
  takeOver(): Promise<void> {
    this.end(Reason.sessionTakenOver, 'session taken over');
    return this.teardownDone;
  }

  /** Broker shutdown: MQTT 5 clients are told why. */
  shutDown(): Promise<void> {
    this.will = undefined;
    this.end(Reason.serverShuttingDown, 'broker shutting down');
    return this.teardownDone;
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- output ----------------------------------------------------------------------------------------------

  /** Queues bytes for the socket; everything written in one tick leaves corked together. */
  write(buf: Buffer): void {
    if (this.socketEnded) return;
    if (!this.output.write(buf)) this.writable = false;
  }

  private onDrain(): void {
    if (this.writable) return;
    this.writable = true;
    this.session?.resumeDelivery();
  }

  // ---- input -----------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    if (this.isClosed) return;
    const problem = this.framer.push(chunk, (packet) => this.onPacketBytes(packet));
    if (problem === 'too-large') {
      this.end(Reason.packetTooLarge, `packet larger than ${this.framer.maxPacketBytes} bytes`);
    } else if (problem === 'malformed-length') this.end(Reason.malformedPacket, 'malformed packet length');
  }

  private onPacketBytes(bytes: Buffer): boolean {
    if (this.isClosed) return false;
    if (!topicsAreUtf8(bytes, this.version)) {
      this.end(Reason.malformedPacket, 'topic is not valid UTF-8');
      return false;
    }
    this.parser.parse(bytes);
    return !this.isClosed;
  }

  private onParseError(err: Error): void {
    if (this.state === 'awaiting-connect' && err.message === 'Invalid protocol version') {
      // MQTT 3.1.1 asks for a CONNACK saying so; older and newer clients understand this one too.
      this.ctx.logger.info(
        { connection: this.id, remote: this.remoteAddress },
        'MQTT protocol version refused',
      );
      this.write(Buffer.from([0x20, 2, 0, ConnackV3.unacceptableProtocolVersion]));
      this.closeSocket();
      return;
    }
    this.end(Reason.malformedPacket, err.message);
  }

  private handle(packet: Packet): Promise<void> | undefined {
    if (this.state === 'awaiting-connect') {
      if (packet.cmd !== 'connect') {
        this.ctx.logger.info({ connection: this.id, cmd: packet.cmd }, 'MQTT packet before CONNECT');
        this.end(undefined, 'packet before CONNECT');
        return undefined;
      }
      this.state = 'connecting';
      clearTimeout(this.handshakeTimer);
      this.connecting = this.connect(packet);
      return this.connecting;
    }
    if (this.state !== 'open') return undefined;
    const session = this.session!;
    switch (packet.cmd) {
      case 'publish':
        if (!this.published) {
          this.published = true;
          if (this.alarm) this.setBlocked(true);
        }
        this.publisher!.publish(packet);
        return undefined;
      case 'puback':
        session.onPuback(packet.messageId ?? 0);
        return undefined;
      case 'pubrec':
        this.background(session.onPubrec(packet.messageId ?? 0, packet.reasonCode));
        return undefined;
      case 'pubrel':
        this.background(this.publisher!.release(packet.messageId ?? 0));
        return undefined;
      case 'pubcomp':
        this.background(session.onPubcomp(packet.messageId ?? 0));
        return undefined;
      case 'subscribe':
        return session.subscribe(packet);
      case 'unsubscribe':
        return session.unsubscribe(packet);
      case 'pingreq':
        this.write(PINGRESP);
        return undefined;
      case 'disconnect':
        this.onDisconnect(packet);
        return undefined;
      case 'connect':
        throw new MqttProtocolError(Reason.protocolError, 'second CONNECT');
      case 'auth':
        throw new MqttProtocolError(Reason.protocolError, 'enhanced authentication is not supported');
      default:
        throw new MqttProtocolError(Reason.protocolError, `unexpected ${packet.cmd} from a client`);
    }
  }

  /** A store write that acknowledgements wait for, without holding back the packets after it. */
  private background(work: Promise<void>): void {
    work.catch((err: unknown) => this.failWith(err));
  }

  // ---- CONNECT ---------------------------------------------------------------------------------------------

  private async connect(packet: IConnectPacket): Promise<void> {
    this.version = packet.protocolVersion ?? 4;
    const { settings, broker } = this.ctx;
    const checked = connectSettings(packet, settings);
    if ('reason' in checked) return this.refuse(checked);
    const login = await authenticateConnect(packet, broker, settings, this.remoteAddress);
    if ('reason' in login) return this.refuse(login);
    if (this.isClosed) return;
    const vhost = broker.vhost(login.vhost)!;
    this.login = login;
    this.vhost = vhost;
    this.keepAliveMs = checked.keepAliveSeconds * 1000;
    const { clientId } = checked;
    await this.ctx.directory.claim(vhost.name, clientId, this, async () => {
      if (this.isClosed) {
        this.ctx.directory.release(vhost.name, clientId, this);
        return;
      }
      const session = new MqttSession(this, {
        vhost,
        principal: login.principal,
        clientId,
        exchange: settings.exchange,
        expirySeconds: checked.expirySeconds,
        clientReceiveMaximum: checked.clientReceiveMaximum,
        clientMaximumPacketSize: checked.clientMaximumPacketSize,
        limits: settings.limits,
        sessions: this.ctx.sessions,
        retained: this.ctx.retained,
        logger: this.ctx.logger,
      });
      this.session = session;
      let present: boolean;
      try {
        present = await session.open(checked.cleanStart);
      } catch (err) {
        this.ctx.logger.warn({ err, clientId }, 'MQTT session could not be opened');
        return this.refuse({ reason: Reason.notAuthorized, message: (err as Error).message });
      }
      if (this.isClosed) return; // teardown detaches the session once this connect is over
      this.publisher = new InboundPublisher(
        this,
        {
          vhost,
          principal: login.principal,
          clientId,
          exchange: settings.exchange,
          limits: settings.limits,
          retained: this.ctx.retained,
          sessions: this.ctx.sessions,
          logger: this.ctx.logger,
          marksPublisher: () => session.subscriptions.hasNoLocal,
          persistent: () => session.persistent,
        },
        present ? this.ctx.sessions.inboundQos2(vhost.name, clientId) : [],
      );
      this.will = checked.will;
      this.state = 'open';
      this.framer.maxPacketBytes = settings.limits.maxPacketBytes;
      this.write(encodeControl(connackFor(this.version, present, checked, settings.limits), this.version));
      session.start();
      this.ctx.logger.info(
        {
          connection: this.id,
          remote: this.remoteAddress,
          user: login.principal.name,
          vhost: vhost.name,
          clientId,
          version: this.version,
        },
        'MQTT connection opened',
      );
    });
  }

  /** Refuses the CONNECT: a CONNACK with the reason (MQTT 3.1.1: its return code), then the socket closes. */
  private refuse(refusal: ConnectRefusal): void {
    this.ctx.logger.info(
      { connection: this.id, remote: this.remoteAddress, reason: refusal.message },
      'MQTT connection refused',
    );
    if (this.isClosed) return;
    if (refusal.reason !== undefined) {
      const connack: Packet =
        this.version === 5
          ? { cmd: 'connack', reasonCode: refusal.reason, sessionPresent: false }
          : { cmd: 'connack', returnCode: connackV3Code(refusal.reason), sessionPresent: false };
      this.write(encodeControl(connack, this.version));
    }
    this.will = undefined;
    this.closeSocket();
  }

  private onDisconnect(packet: IDisconnectPacket): void {
    const session = this.session!;
    const reason = this.version === 5 ? (packet.reasonCode ?? 0) : 0;
    const expiry = this.version === 5 ? packet.properties?.sessionExpiryInterval : undefined;
    if (expiry !== undefined) {
      if (session.expirySeconds === 0 && expiry > 0) {
        throw new MqttProtocolError(
          Reason.protocolError,
          'session expiry set at DISCONNECT after 0 at CONNECT',
        );
      }
      session.expirySeconds = Math.min(expiry, this.ctx.settings.limits.maxSessionExpirySeconds);
    }
    if (reason !== Reason.disconnectWithWill) this.will = undefined;
    this.end(undefined, 'client disconnected');
  }

  // ---- ending ----------------------------------------------------------------------------------------------

  private failWith(err: unknown): void {
    if (err instanceof MqttProtocolError) {
      this.end(err.reason, err.message);
      return;
    }
    this.ctx.logger.error({ err, connection: this.id }, 'MQTT connection failed');
    this.end(Reason.unspecifiedError, 'internal error');
  }

  /** For the session and the publish path: a failure that ends the connection. */
  fail(reason: number, message: string): void {
    this.end(reason, message);
  }

  pauseReading(): void {
    this.pausedForAcks = true;
    this.updateReading();
  }

  resumeReading(): void {
    this.pausedForAcks = false;
    this.lastActivity = Date.now();
    this.updateReading();
  }

  private updateReading(): void {
    if (this.isClosed) return;
    if (this.pausedForAcks || this.pausedForAlarm || this.pausedForBacklog) this.socket.pause();
    else this.socket.resume();
  }

  /**
   * Ends the connection. With a reason, an MQTT 5 client gets a DISCONNECT first. The will is published unless
   * the client disconnected normally.
   */
  private end(reason: number | undefined, why: string): void {
    if (this.isClosed) return;
    if (reason !== undefined) {
      this.ctx.logger.info(
        { connection: this.id, clientId: this.session?.clientId, reason: why },
        'MQTT connection closed by the broker',
      );
      if (this.version === 5 && this.state === 'open') {
        this.write(encodeControl({ cmd: 'disconnect', reasonCode: reason }, 5));
      }
    }
    this.closeSocket();
  }

  private closeSocket(): void {
    this.state = 'closed';
    this.socketEnded = true;
    this.socket.end();
    // A peer that never reads must not keep the socket open.
    setTimeout(() => this.socket.destroy(), 2000).unref();
    void this.teardown();
  }

  private onSocketClosed(): void {
    this.state = 'closed';
    this.socketEnded = true;
    void this.teardown();
  }

  /** Detaches the session, publishes the will, releases the client id. Runs once. */
  private async teardown(): Promise<void> {
    if (this.torndown) return;
    this.torndown = true;
    clearTimeout(this.handshakeTimer);
    this.packets.clear();
    await this.connecting?.catch(() => {});
    const session = this.session;
    const vhost = this.vhost;
    try {
      if (session) await session.detach();
      if (vhost) await vhost.releaseOwner(this);
    } catch (err) {
      this.ctx.logger.error({ err, connection: this.id }, 'MQTT session teardown failed');
    }
    if (session && vhost) {
      this.ctx.logger.info(
        { connection: this.id, remote: this.remoteAddress, clientId: session.clientId },
        'MQTT connection closed',
      );
      if (session.persistent)
        this.ctx.directory.scheduleExpiry(vhost.name, session.clientId, session.expirySeconds);
      this.sendWill(session, vhost);
      this.ctx.directory.release(vhost.name, session.clientId, this);
    }
    this.ctx.onClosed(this);
    this.resolveTeardown();
  }

  private sendWill(session: MqttSession, vhost: VHost): void {
    const will = this.will;
    this.will = undefined;
    if (!will || !this.login) return;
    const context = {
      vhost,
      principal: this.login.principal,
      clientId: session.clientId,
      exchange: this.ctx.settings.exchange,
      retained: this.ctx.retained,
      logger: this.ctx.logger,
    };
    const delaySeconds = Math.min(will.delaySeconds, session.expirySeconds);
    if (delaySeconds > 0) {
      this.ctx.directory.scheduleWill(vhost.name, session.clientId, delaySeconds * 1000, () =>
        publishWill(will, context),
      );
    } else publishWill(will, context);
  }
}
