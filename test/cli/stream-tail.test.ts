import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { connect, openConfirmChannel, sleep, waitFor } from '../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { CLI_ENTRY, runCli } from '../helpers/cli-process.js';

interface Record {
  offset: number;
  timestamp: string | null;
  exchange: string;
  routingKey: string;
  properties: { [key: string]: unknown };
  headers: { [key: string]: unknown };
  body?: string;
  bodyBase64?: string;
}

const SKIP = 'spawns EventterMQ (the offsets and the stop rule are checked against its streams)';
const BINARY = Buffer.from([0x00, 0xff, 0x10, 0x41, 0x0d]);
// Offsets 0..19 of 'orders': text bodies except 7 (binary) and 8 (text with \n and \t).
const ORDERS = 20;

let broker: BrokerUnderTest;
let conn: ChannelModel;
let pub: ConfirmChannel;

const tail = (args: string[], timeoutMs = 20_000) =>
  runCli(['stream', 'tail', ...args], {
    env: { PATH: process.env.PATH, EVENTTER_URL: broker.url },
    timeoutMs,
  });

const records = (stdout: string): Record[] =>
  stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record);

async function declareStream(name: string): Promise<void> {
  await pub.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'stream' } });
}

describe('eventter stream tail', { skip: isExternalBroker() ? SKIP : false }, () => {
  before(async () => {
    broker = await startBroker();
    conn = await connect(broker.url);
    pub = await openConfirmChannel(conn);
    await declareStream('orders');
    await pub.assertExchange('shop', 'topic', { durable: true });
    await pub.bindQueue('orders', 'shop', 'order.#');
    for (let i = 0; i < ORDERS; i++) {
      let body = Buffer.from(`order ${i} ✓`);
      if (i === 7) body = BINARY;
      if (i === 8) body = Buffer.from('line 1\n\tline 2');
      pub.publish('shop', `order.${i}`, body, {
        headers: { n: i, tags: ['a', 'b'], nested: { ok: true } },
        messageId: `m${i}`,
        timestamp: 1_714_564_800 + i,
        contentType: 'text/plain',
      });
    }
    await pub.waitForConfirms();
  });

  after(async () => {
    await conn?.close().catch(() => {});
    await broker?.kill9();
    if (broker?.dataDir) rmSync(broker.dataDir, { recursive: true, force: true });
  });

  it('--from first prints every message with its offset as JSON, then exits 0', async () => {
    const run = await tail(['orders', '--from', 'first', '--json']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    const got = records(run.stdout);
    assert.deepEqual(
      got.map((r) => r.offset),
      Array.from({ length: ORDERS }, (_, i) => i),
    );
    assert.deepEqual(got[3], {
      offset: 3,
      timestamp: '2024-05-01T12:00:03.000Z',
      exchange: 'shop',
      routingKey: 'order.3',
      properties: { contentType: 'text/plain', messageId: 'm3' },
      headers: { n: 3, tags: ['a', 'b'], nested: { ok: true } },
      body: 'order 3 ✓',
    });
    assert.equal(got[7].body, undefined);
    assert.equal(Buffer.from(got[7].bodyBase64 ?? '', 'base64').compare(BINARY), 0, 'binary body as base64');
    assert.equal(got[8].body, 'line 1\n\tline 2', '\\n and \\t stay text');
  });

  it('without --json prints one tab-separated line per message', async () => {
    const run = await tail(['orders', '--from', '7']);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.equal(lines.length, ORDERS - 7);
    assert.equal(lines[0], `7\t2024-05-01T12:00:07.000Z\tshop\torder.7\tbase64:${BINARY.toString('base64')}`);
    assert.equal(lines[1], '8\t2024-05-01T12:00:08.000Z\tshop\torder.8\tline 1\\n\\tline 2');
  });

  it('--from 5 starts at offset 5; --from last prints the last message; --from next and past the end print nothing', async () => {
    const from5 = await tail(['orders', '--from', '5', '--json']);
    assert.equal(from5.code, 0, from5.stderr);
    assert.deepEqual(
      records(from5.stdout).map((r) => r.offset),
      Array.from({ length: ORDERS - 5 }, (_, i) => i + 5),
    );
    const last = await tail(['orders', '--from', 'last', '--json']);
    assert.deepEqual(
      records(last.stdout).map((r) => r.offset),
      [ORDERS - 1],
    );
    for (const from of ['next', '1000']) {
      const run = await tail(['orders', '--from', from]);
      assert.deepEqual([run.code, run.stdout, run.stderr], [0, '', ''], `--from ${from}`);
    }
  });

  it('--from an interval or a time starts at the first message stored at or after it', async () => {
    await declareStream('recent');
    pub.sendToQueue('recent', Buffer.from('old'));
    await pub.waitForConfirms();
    await sleep(5000);
    const sentAt = Date.now();
    pub.sendToQueue('recent', Buffer.from('new'));
    await pub.waitForConfirms();
    const hour = await tail(['recent', '--from', '1h', '--json']);
    assert.deepEqual(
      records(hour.stdout).map((r) => r.body),
      ['old', 'new'],
    );
    // 'new' came 5 s after 'old': 4 s back from a start within 4 s of 'new' lies between the two.
    const recent = await tail(['recent', '--from', '4s', '--json']);
    assert.deepEqual(
      records(recent.stdout).map((r) => r.body),
      ['new'],
    );
    const iso = await tail(['recent', '--from', new Date(sentAt - 1000).toISOString(), '--json']);
    assert.deepEqual(
      records(iso.stdout).map((r) => r.body),
      ['new'],
    );
    // Nothing stored after a future time: ends after the idle wait with nothing printed.
    const future = await tail(['recent', '--from', '@4102444800']);
    assert.deepEqual([future.code, future.stdout], [0, '']);
  });

  it('--follow prints a message published after it started and exits 0 on SIGTERM', async () => {
    await declareStream('live');
    pub.sendToQueue('live', Buffer.from('before'));
    await pub.waitForConfirms();
    const child = spawn(process.execPath, [CLI_ENTRY, 'stream', 'tail', 'live', '--follow', '--json'], {
      env: { PATH: process.env.PATH, EVENTTER_URL: broker.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    try {
      await waitFor(() => stdout.includes('"before"'), 'the existing message', 10_000);
      pub.sendToQueue('live', Buffer.from('after'));
      await pub.waitForConfirms();
      await waitFor(() => stdout.includes('"after"'), 'the new message', 10_000);
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      assert.deepEqual(
        records(stdout).map((r) => [r.offset, r.body]),
        [
          [0, 'before'],
          [1, 'after'],
        ],
      );
      assert.equal(stderr, '');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('--group acks what it prints: the group resumes after it, and a new group starts at --from', async () => {
    const first = await tail(['orders', '--group', 'audit-readers', '--from', '15', '--json']);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      records(first.stdout).map((r) => r.offset),
      [15, 16, 17, 18, 19],
    );
    // The group committed 19: a member joining later ignores its own --from and gets nothing more.
    const again = await tail(['orders', '--group', 'audit-readers', '--from', 'first']);
    assert.deepEqual([again.code, again.stdout], [0, '']);
    pub.sendToQueue('orders', Buffer.from('order 20'));
    await pub.waitForConfirms();
    const next = await tail(['orders', '--group', 'audit-readers', '--json']);
    assert.deepEqual(
      records(next.stdout).map((r) => [r.offset, r.body]),
      [[ORDERS, 'order 20']],
    );
  });

  it('piped into head -n 1 it ends quietly', async () => {
    await declareStream('big');
    const body = Buffer.alloc(400, 0x78);
    for (let i = 0; i < 2000; i++) pub.sendToQueue('big', body);
    await pub.waitForConfirms();
    const run = await runCli(
      ['-c', `set -o pipefail; "${process.execPath}" "${CLI_ENTRY}" stream tail big --json | head -n 1`],
      {
        command: ['bash', '--norc', '--noprofile'],
        env: { PATH: process.env.PATH, EVENTTER_URL: broker.url },
      },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, '');
    assert.equal(records(run.stdout).length, 1);
  });

  it('refuses an unknown stream, a queue that is not a stream, and a bad --from', async () => {
    const missing = await tail(['nope']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.equal(missing.stderr, "eventter stream tail: no stream 'nope' in vhost '/'\n");
    await pub.assertQueue('classic-q', { durable: true });
    pub.sendToQueue('classic-q', Buffer.from('keep me'));
    await pub.waitForConfirms();
    const classic = await tail(['classic-q']);
    assert.equal(classic.code, 1);
    assert.match(classic.stderr, /queue 'classic-q' in vhost '\/' is not a stream/);
    assert.equal((await pub.checkQueue('classic-q')).messageCount, 1, 'nothing was taken from it');
    const usage = await tail(['orders', '--from', 'yesterday']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--from/);
    const help = await tail(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--follow/);
  });
});
