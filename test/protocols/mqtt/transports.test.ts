import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { type BrokerUnderTest, startBroker } from '../../helpers/broker-under-test.js';
import { Inbox, MQTT_SKIP } from '../../helpers/mqtt-client.js';
import { createTestPki, type TestPki } from '../../helpers/test-pki.js';
import { startTlsBroker, tlsBrokerSkip } from '../../helpers/tls-broker.js';
import { uniqueName } from '../../helpers/unique-name.js';

const login: IClientOptions = {
  username: 'guest',
  password: 'guest',
  reconnectPeriod: 0,
  connectTimeout: 15_000,
};

/** A publish and its delivery on one client: proves the transport carries MQTT both ways. */
async function roundTrip(client: MqttClient, text: string): Promise<string> {
  const topic = uniqueName('transport');
  const inbox = new Inbox(client);
  await client.subscribeAsync(topic, { qos: 1 });
  await client.publishAsync(topic, text, { qos: 1 });
  const [message] = await inbox.waitForCount(1);
  return message.payload.toString();
}

describe('MQTT over WebSocket on the HTTP port', { skip: MQTT_SKIP }, () => {
  let broker: BrokerUnderTest;

  before(async () => {
    broker = await startBroker();
  });
  after(async () => {
    await broker?.stop();
  });

  for (const protocolVersion of [4, 5] as const) {
    it(`carries MQTT ${protocolVersion === 5 ? '5.0' : '3.1.1'} at ws://…/mqtt with the mqtt subprotocol`, async () => {
      const client = await mqtt.connectAsync(`ws://127.0.0.1:${broker.httpPort}/mqtt`, {
        ...login,
        protocolVersion,
      });
      try {
        assert.equal(await roundTrip(client, 'over WebSocket'), 'over WebSocket');
      } finally {
        await client.endAsync();
      }
    });
  }

  it('answers 404 to a WebSocket handshake on another path', async () => {
    const status = await new Promise<number | undefined>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${broker.httpPort}/other`, 'mqtt');
      ws.on('unexpected-response', (_request, response) => {
        resolve(response.statusCode);
        ws.terminate();
      });
      ws.on('open', () => {
        resolve(101);
        ws.close();
      });
      ws.on('error', () => resolve(undefined));
    });
    assert.equal(status, 404);
  });

  it('shares sessions and topics with TCP clients', async () => {
    const topic = uniqueName('ws-tcp');
    const tcp = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.mqttPort}`, login);
    const ws = await mqtt.connectAsync(`ws://127.0.0.1:${broker.httpPort}/mqtt`, login);
    try {
      const inbox = new Inbox(tcp);
      await tcp.subscribeAsync(topic, { qos: 1 });
      await ws.publishAsync(topic, 'from the browser side', { qos: 1 });
      const [message] = await inbox.waitForCount(1);
      assert.equal(message.payload.toString(), 'from the browser side');
    } finally {
      await Promise.all([tcp.endAsync(), ws.endAsync()]);
    }
  });
});

describe('MQTT over TLS', { skip: MQTT_SKIP || tlsBrokerSkip() }, () => {
  let pki: TestPki;
  let broker: BrokerUnderTest;
  let ca: string;

  before(async () => {
    pki = await createTestPki();
    ca = await readFile(pki.ca.certFile, 'utf8');
    broker = await startTlsBroker(pki, { extraArgs: ['--http-tls'] });
  });
  after(async () => {
    await broker?.stop();
    await pki?.remove();
  });

  it('serves mqtts with the broker certificate', async () => {
    assert.ok(broker.mqttsPort !== undefined, 'an mqtts listener was logged');
    const client = await mqtt.connectAsync(`mqtts://localhost:${broker.mqttsPort}`, { ...login, ca: [ca] });
    try {
      assert.equal(await roundTrip(client, 'over TLS'), 'over TLS');
    } finally {
      await client.endAsync();
    }
  });

  it('refuses a client that trusts another CA', async () => {
    const other = await readFile(pki.otherCa.certFile, 'utf8');
    await assert.rejects(
      mqtt.connectAsync(`mqtts://localhost:${broker.mqttsPort}`, { ...login, ca: [other] }),
    );
  });

  it('serves wss://…/mqtt on the HTTPS port', async () => {
    const client = await mqtt.connectAsync(`wss://localhost:${broker.httpPort}/mqtt`, { ...login, ca: [ca] });
    try {
      assert.equal(await roundTrip(client, 'over wss'), 'over wss');
    } finally {
      await client.endAsync();
    }
  });
});
