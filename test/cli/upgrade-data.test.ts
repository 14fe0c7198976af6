import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { collect, connect, openChannel, openConfirmChannel } from '../helpers/amqp-client.js';
import { isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { runCli } from '../helpers/cli-process.js';

const HEADER_BYTES = 20;

/** Turns a current data directory into what 0.1.0 wrote: no FORMAT file, no indexes, headerless segments. */
function downgradeToV1(dataDir: string): number {
  fs.rmSync(path.join(dataDir, 'FORMAT'));
  let files = 0;
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.name.endsWith('.idx')) fs.rmSync(p);
      else if (entry.name.endsWith('.seg')) {
        const bytes = fs.readFileSync(p);
        fs.writeFileSync(p, bytes.subarray(HEADER_BYTES));
        files++;
      }
    }
  };
  walk(path.join(dataDir, 'queues'));
  return files;
}

test('a 0.1.0 data directory is refused with the way out; upgrade-data converts it and nothing is lost', async (t) => {
  if (isExternalBroker()) return t.skip('needs the EventterMQ process');
  let broker = await startBroker({ extraArgs: ['--segment-max-bytes', '1048576'] });
  const { dataDir } = broker;
  try {
    const conn = await connect(broker.url);
    const ch = await openConfirmChannel(conn);
    await ch.assertQueue('jobs', { durable: true });
    for (let i = 0; i < 3000; i++)
      ch.sendToQueue('jobs', Buffer.alloc(500, i & 0xff), { persistent: true, messageId: String(i) });
    await ch.waitForConfirms();
    await conn.close();
    assert.equal(await broker.stop(), 0);
    assert.ok(downgradeToV1(dataDir) >= 2, 'several segment files');

    const env = { PATH: process.env.PATH };
    const refused = await runCli(
      ['server', '--data-dir', dataDir, '--amqp-port', '0', '--http-port', '0', '--mqtt-port', '0'],
      {
        env,
        timeoutMs: 20_000,
      },
    );
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /eventter upgrade-data --data-dir/);
    assert.equal(refused.stderr.trim().split('\n').length, 1, `one line: ${refused.stderr}`);

    const upgraded = await runCli(['upgrade-data', '--data-dir', dataDir], { env, timeoutMs: 30_000 });
    assert.equal(upgraded.code, 0, upgraded.stderr);
    assert.match(upgraded.stdout, /format 1 -> 2/);
    const again = await runCli(['upgrade-data', '--data-dir', dataDir], { env, timeoutMs: 30_000 });
    assert.equal(again.code, 0, 're-running it is harmless');
    assert.match(again.stdout, /0 segment files converted/);

    broker = await startBroker({ dataDir, extraArgs: ['--segment-max-bytes', '1048576'] });
    const reader = await connect(broker.url);
    const rch = await openChannel(reader);
    assert.equal((await rch.checkQueue('jobs')).messageCount, 3000);
    const got = await collect(rch, 'jobs', 3000, { timeoutMs: 20_000 });
    assert.deepEqual(
      got.map((m) => Number(m.properties.messageId)),
      Array.from({ length: 3000 }, (_, i) => i),
    );
    await reader.close();
  } finally {
    await broker.kill9();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
