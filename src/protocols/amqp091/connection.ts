import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { CodecError } from '../../codec/codec-error.js';
import type { FieldTable } from '../../codec/field-table.js';
import type { Broker } from '../../core/broker.js';
import type { TrackedConnection } from '../../core/connection-registry.js';
import { BrokerError, ReplyCode, replyCodeName } from '../../core/errors.js';
import type { LoginResult, Principal } from '../../core/users.js';
import type { VHost } from '../../core/vhost.js';
import { TickBatchedWriter } from '../../net/tick-batched-writer.js';
import type { VerifiedPeer } from '../../net/tls-peer.js';
import { AmqpError } from './amqp-error.js';
import { AmqpChannel } from './channel.js';
import { ClientClose, closeGraceMs, isSettlement } from './client-close.js';
import { FrameParser } from './frame-parser.js';
import { heartbeatFrame, methodFrame } from './frame-writer.js';
import {
  type AmqpMethod,
  decodeMethod,
  encodeMethod,
  FRAME_BODY,
  FRAME_HEADER,
  FRAME_HEARTBEAT,
  FRAME_METHOD,
  FRAME_MIN_SIZE,
} from './generated/methods.js';
import { EXTERNAL, offeredMechanisms, parseSaslResponse } from './sasl.js';
import { serverProperties } from './server-properties.js';

export interface AmqpLimits {
  frameMax: number;
  channelMax: number;
  heartbeat: number;
  maxMessageSize: number;
  handshakeTimeoutMs: number;
  /** Consumers one channel may hold (RabbitMQ's consumer_max_per_channel); 0 = no limit. */
  maxConsumersPerChannel: number;
}

export interface ConnectionContext {
  broker: Broker;
  limits: AmqpLimits;
  logger: Logger;
  clusterName: string;
  onClosed(connection: AmqpConnection): void;
  /** Set when the transport verified a client certificate: SASL EXTERNAL is offered then. */
  verifiedPeer?: VerifiedPeer;
}

type State =
  | 'header'
  | 'start-ok'
  | 'authenticating'
  | 'tune-ok'
  | 'open'
  | 'open-ok'
  /** We sent connection.close (an error, shutdown) and wait for close-ok. */
  | 'closing'
  /** The client sent connection.close; its late acks still count (see onClientClose). */
  | 'client-closing'
  | 'closed';

const supportedHeader = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1]);
let nextConnectionId = 1;

/**
 * One AMQP 0-9-1 connection: handshake, heartbeats, channel multiplexing and coalesced socket writes.
 * Frames are parsed in place from the received chunks; everything written during one tick leaves in one
 * corked batch.
 */
export class AmqpConnection {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  private state: State = 'header';
  private readonly parser: FrameParser;
  private readonly channels = new Map<number, AmqpChannel>();
  private frameMax: number;
  private channelMax: number;
  private heartbeatSeconds = 0;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private clientClose: ClientClose | undefined;
  private ownerReleased = false;
  private lastReceived = Date.now();
  private sentSinceTick = false;
  private readonly output: TickBatchedWriter;
  private writable = true;
  private user: Principal | undefined;
  /** Set once connection.open admitted this connection to its vhost. */
  private tracked: TrackedConnection | undefined;
  private mechanism = '';
  vhost: VHost | undefined;
  clientProperties: FieldTable = {};
  private blockedReason: string | null = null;
  /** Reading is paused because this connection published during a resource alarm. */
  private readingPaused = false;
  private readonly drainWaiters = new Set<AmqpChannel>();

  constructor(
    private readonly socket: Socket,
    private readonly ctx: ConnectionContext,
  ) {
    this.remoteAddress = socket.remoteAddress;
    this.remotePort = socket.remotePort;
    this.output = new TickBatchedWriter(socket);
    this.frameMax = ctx.limits.frameMax;
    this.channelMax = ctx.limits.channelMax;
    this.parser = new FrameParser(
      {
        onFrame: (type, channel, payload, start, end) => {
          // An error in a well-formed frame must not stop the parser: the client's close-ok still has to be read.
          try {
            this.onFrame(type, channel, payload, start, end);
          } catch (err) {
            this.fail(err);
          }
        },
        onProtocolHeader: () => this.onProtocolHeader(true),
        onProtocolHeaderMismatch: () => this.onProtocolHeader(false),
      },
      // Until tune-ok, frames are bounded by the spec's minimum frame size (as in RabbitMQ): this bounds
      // what an unauthenticated client can send, user names and passwords included.
      { expectProtocolHeader: true },
    );
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.ctx.logger.debug({ err, connection: this.id }, 'socket error'));
    socket.on('close', () => this.onSocketClosed());
    this.handshakeTimer = setTimeout(() => {
      if (this.state !== 'open-ok' && this.state !== 'closed') {
        this.ctx.logger.info({ connection: this.id, remote: this.remoteAddress }, 'handshake timeout');
        this.socket.destroy();
      }
    }, ctx.limits.handshakeTimeoutMs);
    this.handshakeTimer.unref();
  }

  get isOpen(): boolean {
    return this.state === 'open-ok';
  }

  get negotiatedFrameMax(): number {
    return this.frameMax;
  }

  get isWritable(): boolean {
    return this.writable;
  }

  get userName(): string | undefined {
    return this.user?.name;
  }

  /** The logged-in user; channels exist only after connection.open, when there is one. */
  get principal(): Principal {
    if (!this.user) throw new Error('no user before login');
    return this.user;
  }

  /** The client told us (client-properties capabilities) it understands server-sent basic.cancel. */
  get clientSupportsCancelNotify(): boolean {
    const caps = this.clientProperties.capabilities;
    return typeof caps === 'object' && caps !== null && (caps as FieldTable).consumer_cancel_notify === true;
  }

  // ---- output ----------------------------------------------------------------------------------------------

  /** Queues bytes for the socket; all writes of one tick go out corked together. */
  write(buf: Buffer): void {
    if (this.state === 'closed' || this.clientClose?.outputClosed) return;
    this.sentSinceTick = true;
    if (!this.output.write(buf)) this.writable = false;
  }

  sendMethod(channel: number, method: AmqpMethod): void {
    this.write(methodFrame(channel, encodeMethod(method)));
  }

  /** A channel wants to be told when the socket drains (its consumers ran out of credit on back-pressure). */
  waitForDrain(channel: AmqpChannel): void {
    this.drainWaiters.add(channel);
  }

  private onDrain(): void {
    this.writable = true;
    const waiting = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const ch of waiting) ch.resumeDeliveries();
  }

  // ---- input -----------------------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.lastReceived = Date.now();
    try {
      this.parser.push(chunk);
    } catch (err) {
      this.fail(err);
    }
  }

  private onProtocolHeader(ok: boolean): void {
    if (!ok) {
      // Spec 4.2.2: answer with the header we support, then close.
      this.socket.end(supportedHeader);
      this.state = 'closed';
      return;
    }
    this.state = 'start-ok';
    this.sendMethod(0, {
      name: 'connection.start',
      classId: 10,
      methodId: 10,
      versionMajor: 0,
      versionMinor: 9,
      serverProperties: serverProperties(this.ctx.clusterName),
      mechanisms: Buffer.from(offeredMechanisms(this.ctx.verifiedPeer !== undefined).join(' ')),
      locales: Buffer.from('en_US'),
    });
  }

  private onFrame(type: number, channel: number, payload: Buffer, start: number, end: number): void {
    if (this.state === 'closed') return;
    if (type === FRAME_HEARTBEAT) {
      if (channel !== 0) {
        throw new AmqpError(ReplyCode.frameError, 'heartbeat frame on non-zero channel');
      }
      return;
    }
    if (this.state === 'client-closing') {
      if (type === FRAME_METHOD && channel !== 0 && isSettlement(payload, start, end)) {
        this.settleAfterClose(channel, decodeMethod(payload, start, end));
      }
      return;
    }
    if (this.state === 'closing') {
      // After we sent connection.close only close/close-ok matter (spec 2.2.4).
      if (type === FRAME_METHOD && channel === 0) {
        const m = decodeMethod(payload, start, end);
        if (m.name === 'connection.close-ok') this.terminate();
        else if (m.name === 'connection.close') {
          this.sendMethod(0, { name: 'connection.close-ok', classId: 10, methodId: 51 });
          this.terminate();
        }
      }
      return;
    }
    if (type === FRAME_METHOD) {
      const method = decodeMethod(payload, start, end);
      if (channel === 0) this.onConnectionMethod(method);
      else this.onChannelMethod(channel, method);
      return;
    }
    if (type === FRAME_HEADER || type === FRAME_BODY) {
      if (channel === 0 || this.state !== 'open-ok') {
        throw new AmqpError(ReplyCode.unexpectedFrame, `unexpected content frame on channel ${channel}`);
      }
      const ch = this.channels.get(channel);
      if (!ch) {
        throw new AmqpError(ReplyCode.channelError, `expected 'channel.open' on channel ${channel}`);
      }
      if (type === FRAME_HEADER) ch.onContentHeader(payload, start, end);
      else ch.onContentBody(payload, start, end);
      return;
    }
    throw new AmqpError(ReplyCode.frameError, `unknown frame type ${type}`);
  }

  private onConnectionMethod(m: AmqpMethod): void {
    switch (m.name) {
      case 'connection.start-ok':
        if (this.state !== 'start-ok') break;
        return this.onStartOk(m.mechanism, m.response, m.clientProperties);
      case 'connection.secure-ok':
        break;
      case 'connection.tune-ok':
        if (this.state !== 'tune-ok') break;
        return this.onTuneOk(m.channelMax, m.frameMax, m.heartbeat);
      case 'connection.open':
        if (this.state !== 'open') break;
        return this.onOpen(m.virtualHost);
      case 'connection.close':
        return this.onClientClose();
      case 'connection.close-ok':
        this.terminate();
        return;
      case 'connection.update-secret':
        if (this.state !== 'open-ok') break;
        this.onUpdateSecret(m.reason);
        return;
      case 'connection.blocked':
      case 'connection.unblocked':
        return; // Client-sent blocked notifications carry no meaning for a server.
    }
    throw new AmqpError(
      ReplyCode.commandInvalid,
      `unexpected method in connection state ${this.state}: ${m.name}`,
      m.classId,
      m.methodId,
    );
  }

  private onStartOk(mechanism: string, response: Buffer, clientProperties: FieldTable): void {
    this.clientProperties = clientProperties;
    this.mechanism = mechanism;
    if (mechanism === EXTERNAL) return this.loginExternal();
    if (!offeredMechanisms(false).includes(mechanism)) {
      throw new AmqpError(
        ReplyCode.commandInvalid,
        `unknown authentication mechanism '${mechanism}'`,
        10,
        11,
      );
    }
    const sasl = parseSaslResponse(mechanism, response);
    if (sasl.invalid !== undefined) {
      this.ctx.logger.warn(
        { connection: this.id, remote: this.remoteAddress, mechanism, reason: sasl.invalid },
        'authentication failed',
      );
      throw new AmqpError(ReplyCode.syntaxError, sasl.invalid, 10, 11);
    }
    if (sasl.refused !== undefined) return this.refuseLogin(undefined, mechanism, sasl.refused);
    const { username, password } = sasl.credentials;
    this.login(this.ctx.broker.users.login(username, password, this.remoteAddress), username, mechanism);
  }

  /**
   * EXTERNAL: the user is the common name of the client certificate the TLS layer verified (RabbitMQ's
   * default ssl_cert_login_from = common_name); the response is ignored. Without such a certificate it is
   * refused like a wrong password, so a client learns nothing more from trying it.
   */
  private loginExternal(): void {
    const name = this.ctx.verifiedPeer?.commonName;
    const check: Promise<LoginResult> =
      name === undefined
        ? Promise.resolve({ refused: 'no verified client certificate with one common name' })
        : this.ctx.broker
            .authenticateExternal(name, this.remoteAddress)
            .then((principal) =>
              principal ? { principal } : { refused: `no user '${name}' may log in from here` },
            );
    this.login(check, name, EXTERNAL);
  }

  private login(check: Promise<LoginResult>, username: string | undefined, mechanism: string): void {
    this.state = 'authenticating';
    check.then(
      (result) => {
        if (this.state !== 'authenticating') return;
        if (result.principal) this.startTune(result.principal);
        else this.refuseLogin(username, mechanism, result.refused);
      },
      (err) => this.fail(err),
    );
  }

  private refuseLogin(username: string | undefined, mechanism: string, reason: string): void {
    this.ctx.logger.warn(
      { connection: this.id, remote: this.remoteAddress, user: username, mechanism, reason },
      'authentication failed',
    );
    // authentication_failure_close: tell the client why (RabbitMQ's text) before closing; details stay in the log.
    this.closeWithError(
      new AmqpError(
        ReplyCode.accessRefused,
        `Login was refused using authentication mechanism ${mechanism}. For details see the broker logfile.`,
      ),
    );
  }

  private startTune(user: Principal): void {
    this.user = user;
    this.state = 'tune-ok';
    this.sendMethod(0, {
      name: 'connection.tune',
      classId: 10,
      methodId: 30,
      channelMax: this.ctx.limits.channelMax,
      frameMax: this.ctx.limits.frameMax,
      heartbeat: this.ctx.limits.heartbeat,
    });
  }

  private onTuneOk(channelMax: number, frameMax: number, heartbeat: number): void {
    const serverFrameMax = this.ctx.limits.frameMax;
    if (frameMax !== 0 && frameMax < FRAME_MIN_SIZE) {
      throw new AmqpError(ReplyCode.notAllowed, `frame_max=${frameMax} < ${FRAME_MIN_SIZE} min size`, 10, 31);
    }
    if (frameMax > serverFrameMax) {
      throw new AmqpError(ReplyCode.notAllowed, `frame_max=${frameMax} > ${serverFrameMax} max size`, 10, 31);
    }
    this.frameMax = frameMax === 0 ? serverFrameMax : frameMax;
    const serverChannelMax = this.ctx.limits.channelMax;
    this.channelMax = channelMax === 0 || channelMax > serverChannelMax ? serverChannelMax : channelMax;
    if (this.channelMax === 0) this.channelMax = 65535;
    this.parser.setMaxFrameSize(this.frameMax);
    this.heartbeatSeconds = heartbeat;
    this.startHeartbeats();
    this.state = 'open';
  }

  private onOpen(vhostName: string): void {
    const user = this.principal;
    const tracked: TrackedConnection = {
      user: user.name,
      vhost: vhostName,
      forceClose: (reason) => this.closeWithError(new AmqpError(ReplyCode.connectionForced, reason)),
    };
    try {
      // The vhost's existence, its and the user's connection limits and the user's access, in RabbitMQ's order.
      this.ctx.broker.connections.admit(tracked, user);
    } catch (err) {
      if (err instanceof BrokerError) throw new AmqpError(err.code, err.text, 10, 40);
      throw err;
    }
    const vhost = this.ctx.broker.vhost(vhostName);
    if (!vhost) {
      this.ctx.broker.connections.release(tracked);
      throw new AmqpError(ReplyCode.notAllowed, `vhost ${vhostName} not found`, 10, 40);
    }
    this.tracked = tracked;
    this.vhost = vhost;
    this.state = 'open-ok';
    clearTimeout(this.handshakeTimer);
    this.sendMethod(0, { name: 'connection.open-ok', classId: 10, methodId: 41, knownHosts: '' });
    this.ctx.logger.info(
      {
        connection: this.id,
        remote: `${this.remoteAddress}:${this.remotePort}`,
        user: user.name,
        vhost: vhostName,
        client: describeClient(this.clientProperties),
      },
      'connection opened',
    );
    if (this.blockedReason !== null) this.sendBlocked(this.blockedReason);
  }

  /**
   * PLAIN/AMQPLAIN carry passwords, not expiring tokens, so there is nothing to refresh: like RabbitMQ's
   * internal backend we acknowledge (the hook is here for token-based mechanisms later).
   */
  private onUpdateSecret(reason: string): void {
    this.ctx.logger.info({ connection: this.id, user: this.user?.name, reason }, 'update-secret');
    this.sendMethod(0, { name: 'connection.update-secret-ok', classId: 10, methodId: 71 });
  }

  private onChannelMethod(channel: number, m: AmqpMethod): void {
    if (this.state !== 'open-ok') {
      throw new AmqpError(
        ReplyCode.channelError,
        `channel ${channel} used before connection.open`,
        m.classId,
        m.methodId,
      );
    }
    let ch = this.channels.get(channel);
    if (m.name === 'channel.open') {
      if (ch) throw new AmqpError(ReplyCode.channelError, "second 'channel.open' seen", 20, 10);
      if (channel > this.channelMax) {
        throw new AmqpError(
          ReplyCode.notAllowed,
          `channel number ${channel} exceeds the negotiated channel_max (${this.channelMax})`,
          20,
          10,
        );
      }
      // RabbitMQ reports the user's channel limit naming no method.
      this.ctx.broker.connections.openChannel(this.principal);
      ch = new AmqpChannel(channel, this, this.vhost!, this.ctx.limits, this.ctx.logger);
      this.channels.set(channel, ch);
      this.sendMethod(channel, {
        name: 'channel.open-ok',
        classId: 20,
        methodId: 11,
        channelId: Buffer.alloc(0),
      });
      return;
    }
    if (!ch) {
      if (m.name === 'channel.close') {
        // Closing a channel that is already gone: acknowledge, as RabbitMQ does.
        this.sendMethod(channel, { name: 'channel.close-ok', classId: 20, methodId: 41 });
        return;
      }
      if (m.name === 'channel.close-ok') return;
      throw new AmqpError(
        ReplyCode.channelError,
        `expected 'channel.open' on channel ${channel}`,
        m.classId,
        m.methodId,
      );
    }
    ch.onMethod(m);
  }

  /** A channel finished closing; its number may be reused. */
  channelClosed(channel: AmqpChannel): void {
    if (this.channels.get(channel.number) === channel) {
      this.channels.delete(channel.number);
      this.ctx.broker.connections.closeChannel(this.principal.name);
    }
    this.drainWaiters.delete(channel);
  }

  // ---- errors and closing ----------------------------------------------------------------------------------

  /** Turns any error raised while handling input into the right close; unknown errors are 541 and logged. */
  fail(err: unknown): void {
    if (this.state === 'closed' || this.state === 'client-closing') return;
    if (err instanceof AmqpError) return this.closeWithError(err);
    if (err instanceof CodecError) return this.closeWithError(new AmqpError(err.replyCode, err.message));
    if (err instanceof BrokerError) return this.closeWithError(new AmqpError(err.code, err.text));
    this.ctx.logger.error({ err, connection: this.id }, 'internal error on connection');
    this.closeWithError(new AmqpError(ReplyCode.internalError, 'internal error'));
  }

  /** Sends connection.close with a reply code and waits (bounded) for close-ok. */
  closeWithError(err: AmqpError): void {
    if (this.state === 'closing' || this.state === 'client-closing' || this.state === 'closed') return;
    this.ctx.logger.info(
      { connection: this.id, remote: this.remoteAddress, code: err.code, reason: err.text },
      'closing connection on error',
    );
    const handshaking = this.state !== 'open-ok';
    this.sendMethod(0, {
      name: 'connection.close',
      classId: 10,
      methodId: 50,
      replyCode: err.code,
      replyText: truncate(`${replyCodeName(err.code)} - ${err.text}`),
      failingClassId: err.classId,
      failingMethodId: err.methodId,
    });
    this.closeChannels();
    this.leaveRegistry();
    this.state = 'closing';
    this.armCloseTimer(handshaking ? 1000 : 3000);
  }

  /** Broker shutdown: connection.close 320 to the client. Resolves once the socket is closed (bounded). */
  forceClose(text: string): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) return resolve();
      this.socket.once('close', () => resolve());
      if (this.state === 'open-ok') this.closeWithError(new AmqpError(ReplyCode.connectionForced, text));
      else this.socket.destroy();
    });
  }

  /** Drops the socket without ceremony (shutdown of an unresponsive client). */
  destroy(): void {
    this.socket.destroy();
  }

  /** A resource alarm started (reason) or cleared (null); connection.blocked tells publishers to pause. */
  setBlocked(reason: string | null): void {
    if (this.blockedReason === reason) return;
    this.blockedReason = reason;
    if (reason === null && this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    if (this.state !== 'open-ok') return;
    if (reason !== null) this.sendBlocked(reason);
    else if (this.clientCapability('connection.blocked')) {
      this.sendMethod(0, { name: 'connection.unblocked', classId: 10, methodId: 61 });
    }
  }

  /**
   * A channel received basic.publish. During an alarm a publishing connection stops being read (after the
   * chunk in hand), as RabbitMQ does; connections that only consume keep going so queues can drain.
   */
  notePublish(): void {
    if (this.blockedReason !== null && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    }
  }

  private sendBlocked(reason: string): void {
    if (this.clientCapability('connection.blocked')) {
      this.sendMethod(0, { name: 'connection.blocked', classId: 10, methodId: 60, reason });
    }
  }

  private clientCapability(name: string): boolean {
    const caps = this.clientProperties.capabilities;
    return typeof caps === 'object' && caps !== null && (caps as FieldTable)[name] === true;
  }

  private armCloseTimer(ms: number): void {
    clearTimeout(this.closeTimer);
    this.closeTimer = setTimeout(() => this.terminate(), ms);
    this.closeTimer.unref();
  }

  /**
   * The client's connection.close. Every frame before it takes effect first: each channel runs what it had
   * queued behind an asynchronous method, then stops delivering; close-ok follows. Like RabbitMQ we then leave
   * the TCP connection for the client to close (ending it at once makes amqp091-go report a clean Close() as
   * 501 EOF) and reset it only after the grace period. Unacked messages are requeued when the client hangs up
   * or SETTLE_AFTER_CLOSE_MS has passed, so acks it sent after its close still count.
   */
  private onClientClose(): void {
    this.state = 'client-closing';
    this.leaveRegistry();
    this.stopTimers();
    if (this.readingPaused) {
      // Keep reading so the client's late acks and its hang-up are seen.
      this.readingPaused = false;
      this.socket.resume();
    }
    this.clientClose = new ClientClose(
      {
        sendCloseOk: () => this.sendMethod(0, { name: 'connection.close-ok', classId: 10, methodId: 51 }),
        release: () => this.finishClientClose(),
        reset: () => resetOrDestroy(this.socket),
      },
      closeGraceMs(this.heartbeatSeconds),
    );
    this.clientClose.start(this.channels.values());
  }

  /** A basic.ack/nack/reject that arrived after the client's connection.close; a bad one is ignored. */
  private settleAfterClose(channel: number, m: AmqpMethod): void {
    try {
      this.channels.get(channel)?.onMethod(m);
    } catch {
      // The connection is going away: there is nobody to report an unknown delivery tag to.
    }
  }

  /** The settle window ended: what is still unacked is requeued and no more input is read. */
  private finishClientClose(): void {
    if (this.state !== 'client-closing') return;
    this.closeChannels();
    this.state = 'closed';
    this.releaseExclusiveQueues();
  }

  private releaseExclusiveQueues(): void {
    if (this.ownerReleased || !this.vhost) return;
    this.ownerReleased = true;
    void this.vhost.releaseOwner(this).catch((err) => this.ctx.logger.error({ err }, 'release'));
  }

  /** Flushes what is queued and ends the socket. */
  private terminate(): void {
    if (this.state === 'closed') return;
    this.closeChannels();
    this.state = 'closed';
    this.stopTimers();
    this.socket.end();
    // A peer that never reads must not keep the socket alive.
    const t = setTimeout(() => this.socket.destroy(), 2000);
    t.unref();
  }

  private onSocketClosed(): void {
    const wasOpen = this.state === 'open-ok' || this.state === 'closing' || this.state === 'client-closing';
    this.closeChannels();
    this.leaveRegistry();
    this.state = 'closed';
    this.stopTimers();
    this.releaseExclusiveQueues();
    if (wasOpen || this.user) {
      this.ctx.logger.info(
        { connection: this.id, remote: this.remoteAddress, user: this.user?.name },
        'connection closed',
      );
    }
    this.ctx.onClosed(this);
  }

  /** A closing connection no longer counts against its vhost's and user's limits. */
  private leaveRegistry(): void {
    if (this.tracked) this.ctx.broker.connections.release(this.tracked);
  }

  private closeChannels(): void {
    for (const ch of this.channels.values()) {
      ch.release();
      this.ctx.broker.connections.closeChannel(this.principal.name);
    }
    this.channels.clear();
  }

  private stopTimers(): void {
    clearInterval(this.heartbeatTimer);
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.closeTimer);
    this.clientClose?.stop();
  }

  private startHeartbeats(): void {
    if (this.heartbeatSeconds <= 0) return;
    const timeoutMs = this.heartbeatSeconds * 2 * 1000;
    const intervalMs = Math.max(500, (this.heartbeatSeconds * 1000) / 2);
    this.heartbeatTimer = setInterval(() => {
      if (Date.now() - this.lastReceived > timeoutMs) {
        this.ctx.logger.info(
          { connection: this.id, remote: this.remoteAddress, timeoutSeconds: this.heartbeatSeconds },
          'missed heartbeats from client, closing',
        );
        this.socket.destroy();
        return;
      }
      if (!this.sentSinceTick) this.write(heartbeatFrame());
      this.sentSinceTick = false;
    }, intervalMs);
    this.heartbeatTimer.unref();
  }
}

/** A TCP reset where the socket can send one; a TLS socket (whose handle is not TCP) is destroyed instead. */
function resetOrDestroy(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

function truncate(text: string): string {
  return Buffer.byteLength(text) <= 255
    ? text
    : Buffer.from(text)
        .subarray(0, 255)
        .toString('utf8')
        .replace(/\uFFFD$/, '');
}

function describeClient(props: FieldTable): string {
  const text = (v: unknown) => (typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString() : '');
  return `${text(props.product)} ${text(props.version)}`.trim();
}
