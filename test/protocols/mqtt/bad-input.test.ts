import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { IConnackPacket, IDisconnectPacket, ISubackPacket } from 'mqtt-packet';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import {
  connectMqtt,
  Inbox,
  MQTT_SKIP,
  MQTT_VERSIONS,
  RawMqtt,
  versionName,
} from '../../helpers/mqtt-client.js';
import { uniqueName } from '../../helpers/unique-name.js';

let broker: BrokerUnderTest;
/** Connected through everything below: bad clients must not disturb it. */
let bystander: MqttClient;

before(async () => {
  broker = await startBroker({
    extraArgs: ['--handshake-timeout', '1000', '--mqtt-max-packet-size', '64KiB'],
  });
  bystander = await connectMqtt(broker);
});

after(async () => {
  await bystander?.endAsync();
  await broker.stop();
});

const port = () => broker.mqttPort!;

/** Remaining-length bytes of a packet body of `n` bytes. */
function remainingLength(n: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return bytes;
}

/** A QoS 0 PUBLISH with the topic given as raw bytes (the codec would refuse to write invalid UTF-8). */
function rawPublish(topic: Buffer, payload: Buffer, version: number): Buffer {
  const body = Buffer.concat([
    Buffer.from([topic.length >> 8, topic.length & 0xff]),
    topic,
    Buffer.from(version === 5 ? [0] : []),
    payload,
  ]);
  return Buffer.concat([Buffer.from([0x30, ...remainingLength(body.length)]), body]);
}

describe('bad input before CONNECT', { skip: MQTT_SKIP }, () => {
  it('closes a connection whose first packet is not CONNECT', async () => {
    const raw = await RawMqtt.open(port());
    raw.send({
      cmd: 'publish',
      topic: 'early',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
    });
    await raw.expectClosed();
  });

  it('closes a malformed remaining length (five continuation bytes)', async () => {
    const raw = await RawMqtt.open(port());
    raw.sendBytes([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    await raw.expectClosed();
  });

  it('refuses an unknown protocol level with CONNACK 1 (unacceptable protocol version)', async () => {
    const raw = await RawMqtt.open(port());
    const connect = Buffer.from([0x10, 12, 0, 4, ...Buffer.from('MQTT'), 9, 0x02, 0, 10, 0, 0]);
    raw.sendBytes(connect);
    const connack = (await raw.next('connack')) as IConnackPacket;
    assert.equal(connack.returnCode, 1);
    await raw.expectClosed();
  });

  it('closes a CONNECT larger than 64 KiB before reading it', async () => {
    const raw = await RawMqtt.open(port());
    raw.sendBytes([0x10, ...remainingLength(200 * 1024), 0, 4]);
    await raw.expectClosed();
  });

  it('closes a connection that sends nothing within the handshake timeout (slow loris)', async () => {
    const raw = await RawMqtt.open(port());
    raw.sendBytes([0x10]); // the first byte of a CONNECT, then silence
    await raw.expectClosed(10_000);
  });

  it('refuses an empty client id with clean session 0 in 3.1.1 (CONNACK 2)', async () => {
    const raw = await RawMqtt.open(port(), 4);
    const login = [0, 5, ...Buffer.from('guest'), 0, 5, ...Buffer.from('guest')];
    const body = [0, 4, ...Buffer.from('MQTT'), 4, 0xc0, 0, 0, 0, 0, ...login]; // user + password, clean 0, id ''
    raw.sendBytes([0x10, body.length, ...body]);
    const connack = (await raw.next('connack')) as IConnackPacket;
    assert.equal(connack.returnCode, 2);
    await raw.expectClosed();
  });
});

for (const version of MQTT_VERSIONS) {
  describe(`protocol violations over ${versionName(version)}`, { skip: MQTT_SKIP }, () => {
    /** MQTT 5 announces the reason in a DISCONNECT before closing; 3.1.1 just closes. */
    async function expectDisconnect(raw: RawMqtt, reason: number): Promise<void> {
      await raw.expectClosed();
      if (version !== 5) return;
      const disconnect = (await raw.next('disconnect')) as IDisconnectPacket;
      assert.equal(disconnect.reasonCode, reason, `reason 0x${disconnect.reasonCode?.toString(16)}`);
    }

    async function connected(): Promise<RawMqtt> {
      const raw = await RawMqtt.open(port(), version);
      const connack = (await raw.connect()) as IConnackPacket;
      assert.equal(version === 5 ? connack.reasonCode : connack.returnCode, 0);
      return raw;
    }

    it('closes on a second CONNECT (protocol error)', async () => {
      const raw = await connected();
      raw.send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: version,
        clientId: 'again',
        clean: true,
        keepalive: 0,
      });
      await expectDisconnect(raw, 0x82);
    });

    it('closes on a wildcard in a PUBLISH topic (topic name invalid)', async () => {
      const raw = await connected();
      raw.sendBytes(rawPublish(Buffer.from('a/+/c'), Buffer.from('x'), version));
      await expectDisconnect(raw, 0x90);
    });

    it('closes on a PUBLISH topic that is not valid UTF-8 (malformed packet)', async () => {
      const raw = await connected();
      raw.sendBytes(rawPublish(Buffer.from([0x61, 0x2f, 0xc3, 0x28]), Buffer.from('x'), version));
      await expectDisconnect(raw, 0x81);
    });

    it('closes on a packet larger than the maximum packet size (packet too large)', async () => {
      const raw = await connected();
      raw.sendBytes([0x30, ...remainingLength(1024 * 1024), 0, 1, 0x61]);
      await expectDisconnect(raw, 0x95);
    });

    it('closes on reserved flag bits set wrong (malformed packet)', async () => {
      const raw = await connected();
      raw.sendBytes([0x80, 6, 0, 1, 0, 1, 0x61, 0]); // SUBSCRIBE must have flags 0b0010
      await raw.expectClosed();
    });

    it('refuses an invalid topic filter in SUBACK and keeps the connection', async () => {
      const raw = await connected();
      raw.send({
        cmd: 'subscribe',
        messageId: 7,
        subscriptions: [
          { topic: 'a/#/b', qos: 1 },
          { topic: 'ok/+', qos: 1 },
        ],
      });
      const suback = (await raw.next('suback')) as ISubackPacket;
      assert.deepEqual(suback.granted, [version === 5 ? 0x8f : 0x80, 1]);
      raw.send({ cmd: 'pingreq' });
      await raw.next('pingresp');
      raw.close();
    });
  });
}

describe('after all of that', { skip: MQTT_SKIP }, () => {
  it('still serves the client that behaved', async () => {
    const topic = uniqueName('bystander');
    const inbox = new Inbox(bystander);
    await bystander.subscribeAsync(topic, { qos: 1 });
    await bystander.publishAsync(topic, 'fine', { qos: 1 });
    const [message] = await inbox.waitForCount(1);
    assert.equal(message.payload.toString(), 'fine');
    assert.equal(broker.process?.exitCode, null, 'the broker is running');
  });
});
