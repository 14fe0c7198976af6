import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { collect, connect, openChannel, openConfirmChannel } from '../../helpers/amqp-client.js';
import { isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

const SKIP_REASON = 'needs the EventterMQ process and its data directory';
const QUEUE = 'audit.damage';
const MESSAGES = 8000;

function flipByteInMiddle(file: string): void {
  const pos = Math.floor(fs.statSync(file).size / 2);
  const fd = fs.openSync(file, 'r+');
  const b = Buffer.alloc(1);
  fs.readSync(fd, b, 0, 1, pos);
  b[0] ^= 0x5a;
  fs.writeSync(fd, b, 0, 1, pos);
  fs.closeSync(fd);
}

test('a flipped byte in a sealed and in the active segment loses one message each, reported in log and /health', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  const args = ['--segment-max-bytes', '1048576'];
  let broker = await startBroker({ extraArgs: args });
  const { dataDir } = broker;
  try {
    const conn = await connect(broker.url);
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue(QUEUE, { durable: true });
    const body = Buffer.alloc(300, 0x61);
    for (let i = 0; i < MESSAGES; i++)
      ch.sendToQueue(QUEUE, body, { persistent: true, messageId: String(i) });
    await ch.waitForConfirms();
    await conn.close();
    assert.equal(await broker.stop(), 0);

    const queueDirs = fs.readdirSync(path.join(dataDir, 'queues'));
    assert.equal(queueDirs.length, 1);
    const dir = path.join(dataDir, 'queues', queueDirs[0]);
    const segments = fs
      .readdirSync(dir)
      .filter((n) => n.endsWith('.seg'))
      .sort();
    assert.ok(segments.length >= 3, `several segments (${segments.length})`);
    flipByteInMiddle(path.join(dir, segments[0])); // sealed
    flipByteInMiddle(path.join(dir, segments[segments.length - 1])); // active

    const logLines: string[] = [];
    broker = await startBroker({ dataDir, extraArgs: args, onLogLine: (l) => logLines.push(l) });
    const reader = await connect(broker.url);
    const rch = await openChannel(reader);
    // Start-up scans only the active segment: its damaged message is gone at once. A sealed segment is not
    // read at start-up (its entry table lists its messages), so its damaged message counts until it is read.
    const { messageCount } = await rch.checkQueue(QUEUE);
    assert.equal(messageCount, MESSAGES - 1, "the active segment's damaged message is gone");
    const got = await collect(rch, QUEUE, MESSAGES - 2, { timeoutMs: 20_000 });
    assert.equal((await rch.checkQueue(QUEUE)).messageCount, 0, "the sealed segment's one went when read");
    const ids = new Set(got.map((m) => Number(m.properties.messageId)));
    assert.equal(ids.size, MESSAGES - 2);
    const lost = Array.from({ length: MESSAGES }, (_, i) => i).filter((i) => !ids.has(i));
    assert.equal(lost.length, 2);
    await reader.close();

    const damageLines = logLines.filter((l) => l.includes('damaged bytes'));
    assert.equal(damageLines.length, 2, 'one log line per damaged record');
    for (const offset of lost) assert.ok(damageLines.some((l) => l.includes(`lost offset ${offset}`)));

    const health = (await (await fetch(`http://127.0.0.1:${broker.httpPort}/health`)).json()) as {
      status: string;
      storageDamage?: Array<{ queue: string; firstOffset: number; lastOffset: number }>;
    };
    assert.equal(health.status, 'degraded');
    assert.equal(health.storageDamage?.length, 2);
    assert.deepEqual(
      health.storageDamage.map((d) => [d.queue, d.firstOffset, d.lastOffset]),
      lost.map((o) => [QUEUE, o, o]),
    );
  } finally {
    await broker.kill9();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
