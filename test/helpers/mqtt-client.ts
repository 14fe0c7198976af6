import { connect as connectTcp, type Socket } from 'node:net';
import mqtt, { type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { type BrokerUnderTest, isExternalBroker } from './broker-under-test.js';

/** Set when tests run against another broker (EVENTTER_TEST_AMQP_URL): the MQTT tests need EventterMQ. */
export const MQTT_SKIP = isExternalBroker()
  ? 'needs the EventterMQ process (EVENTTER_TEST_AMQP_URL points at an external broker)'
  : undefined;

/** MQTT 3.1.1 (protocol level 4) and 5.0: most tests run for both. */
export const MQTT_VERSIONS = [4, 5] as const;
export type MqttVersion = (typeof MQTT_VERSIONS)[number];

export function versionName(version: MqttVersion): string {
  return version === 5 ? 'MQTT 5.0' : 'MQTT 3.1.1';
}

/** mqtt.js connected to the broker as guest (no automatic reconnects: a test sees every close). */
export function connectMqtt(
  broker: Pick<BrokerUnderTest, 'mqttPort'> | number,
  options: IClientOptions = {},
): Promise<MqttClient> {
  const port = typeof broker === 'number' ? broker : broker.mqttPort;
  if (port === undefined) throw new Error('the broker has no MQTT listener');
  return mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    username: 'guest',
    password: 'guest',
    reconnectPeriod: 0,
    connectTimeout: 15_000,
    ...options,
  });
}

/**
 * Like connectMqtt, also resolving the CONNACK (session present, MQTT 5 properties) and an inbox that was
 * listening before the CONNACK came: a resumed session's messages can arrive in the same read.
 */
export function connectWithConnack(
  broker: Pick<BrokerUnderTest, 'mqttPort'> | number,
  options: IClientOptions = {},
): Promise<{ client: MqttClient; connack: IConnackPacket; inbox: Inbox }> {
  const port = typeof broker === 'number' ? broker : broker.mqttPort;
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
    username: 'guest',
    password: 'guest',
    reconnectPeriod: 0,
    connectTimeout: 15_000,
    ...options,
  });
  const inbox = new Inbox(client);
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve({ client, connack, inbox }));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

/** The SUBACK codes for the filters, refusals included (mqtt.js rejects when any filter is refused). */
export async function subackCodes(
  client: MqttClient,
  filters: string[],
  qos: 0 | 1 | 2 = 1,
): Promise<number[]> {
  try {
    const granted = await client.subscribeAsync(filters, { qos });
    return granted.map((g) => g.qos);
  } catch (err) {
    const packet = (err as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw err;
    return packet.granted;
  }
}

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Collects what a client receives, in order; waits for a number of messages or a particular one. */
export class Inbox {
  readonly messages: Received[] = [];
  private waiters: Array<() => void> = [];

  constructor(client: MqttClient) {
    client.on('message', (topic, payload, packet) => {
      this.messages.push({ topic, payload, packet });
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  /** Resolves once at least `count` messages arrived. */
  async waitForCount(count: number, timeoutMs = 15_000): Promise<Received[]> {
    await this.waitUntil(() => this.messages.length >= count, timeoutMs, `${count} messages`);
    return this.messages.slice(0, count);
  }

  /** Resolves with the first message on `topic` (already received or still to come). */
  async waitForTopic(topic: string, timeoutMs = 15_000): Promise<Received> {
    await this.waitUntil(
      () => this.messages.some((m) => m.topic === topic),
      timeoutMs,
      `a message on ${topic}`,
    );
    return this.messages.find((m) => m.topic === topic)!;
  }

  topics(): string[] {
    return this.messages.map((m) => m.topic);
  }

  private waitUntil(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.topics())}`));
      }, timeoutMs);
      const check = () => {
        if (done()) {
          clearTimeout(timer);
          resolve();
        } else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }
}

/** Resolves when the client's connection closes (broker-side close, takeover, ...). */
export function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => {
    if (!client.connected && client.disconnected) resolve();
    client.once('close', () => resolve());
  });
}

/**
 * A bare TCP connection speaking MQTT through mqtt-packet, for what mqtt.js will not send: malformed and
 * out-of-order packets, silence instead of keep-alive pings.
 */
export class RawMqtt {
  readonly packets: Packet[] = [];
  private readonly parser: ReturnType<typeof mqttPacket.parser>;
  private waiters: Array<() => void> = [];
  closedAt: number | undefined;
  readonly ended: Promise<void>;

  private constructor(
    readonly socket: Socket,
    private version: number,
  ) {
    // Told the version up front: a v5 CONNACK only decodes right when the parser knows it.
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (packet: Packet) => {
      this.packets.push(packet);
      this.wake();
    });
    socket.on('data', (chunk: Buffer) => this.parser.parse(chunk));
    socket.on('error', () => {});
    this.ended = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = Date.now();
        this.wake();
        resolve();
      }),
    );
  }

  static open(port: number, version = 4): Promise<RawMqtt> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ host: '127.0.0.1', port }, () => resolve(new RawMqtt(socket, version)));
      socket.once('error', reject);
    });
  }

  send(packet: Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }));
  }

  sendBytes(bytes: Buffer | number[]): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes));
  }

  /** CONNECT as guest and wait for the CONNACK. */
  async connect(fields: Partial<mqttPacket.IConnectPacket> = {}): Promise<Packet> {
    this.send({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: this.version as 4 | 5,
      clientId: `raw-${Math.random().toString(36).slice(2)}`,
      clean: true,
      keepalive: 0,
      username: 'guest',
      password: Buffer.from('guest'),
      ...fields,
    });
    return this.next('connack');
  }

  /** The next packet of a kind (already received or still to come). */
  async next(cmd: Packet['cmd'], timeoutMs = 15_000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.packets.findIndex((p) => p.cmd === cmd);
      if (at >= 0) return this.packets.splice(at, 1)[0];
      if (this.closedAt !== undefined) throw new Error(`connection closed before a ${cmd} came`);
      if (Date.now() > deadline) throw new Error(`no ${cmd} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves once the broker closed the connection; rejects if it stays open for timeoutMs. */
  async expectClosed(timeoutMs = 15_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.ended,
      new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still open after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}
