import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { connect, openChannel, openConfirmChannel, sleep, waitFor } from '../../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../../helpers/broker-under-test.js';

const SKIP_REASON = 'needs the EventterMQ process';
const STREAM = 'audit';

interface Member {
  conn: ChannelModel;
  ch: Channel;
  got: ConsumeMessage[];
  acked: number[];
}

/** A group member on its own connection; acks each message after `delayMs` (0: at once). */
async function member(
  url: string,
  group: string,
  args: Record<string, unknown> = {},
  delayMs = () => 0,
  prefetch = 10,
): Promise<Member> {
  const conn = await connect(url);
  const ch = await openChannel(conn);
  await ch.prefetch(prefetch);
  const m: Member = { conn, ch, got: [], acked: [] };
  await ch.consume(
    STREAM,
    (msg) => {
      if (!msg) return;
      m.got.push(msg);
      const ack = () => {
        try {
          ch.ack(msg);
          m.acked.push(offsetOf(msg));
        } catch {
          // the channel is gone
        }
      };
      const d = delayMs();
      if (d === 0) ack();
      else if (d > 0) setTimeout(ack, d);
      // d < 0: never ack (a member that dies mid-work)
    },
    { arguments: { 'x-consumer-group': group, 'x-stream-offset': 'first', ...args } },
  );
  return m;
}

const offsetOf = (m: ConsumeMessage) => Number(m.properties.headers?.['x-stream-offset']);

async function publish(url: string, n: number, key = (i: number) => `k${i % 5}`): Promise<void> {
  const conn = await connect(url);
  const ch = await openConfirmChannel(conn);
  for (let i = 0; i < n; i++) ch.publish('', STREAM, Buffer.from(String(i)), { headers: { key: key(i) } });
  await ch.waitForConfirms();
  await conn.close();
}

async function withStream(body: (broker: BrokerUnderTest) => Promise<void>): Promise<void> {
  const broker = await startBroker();
  try {
    const conn = await connect(broker.url);
    await (await openChannel(conn)).assertQueue(STREAM, {
      durable: true,
      arguments: { 'x-queue-type': 'stream' },
    });
    await conn.close();
    await body(broker);
  } finally {
    await broker.kill9();
    fs.rmSync(broker.dataDir, { recursive: true, force: true });
  }
}

test('every group sees every message; members of a group share them, each once', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  await withStream(async (broker) => {
    const billing = await Promise.all([1, 2, 3].map(() => member(broker.url, 'billing')));
    const security = await member(broker.url, 'security');
    await publish(broker.url, 300);
    const total = () => billing.reduce((n, m) => n + m.got.length, 0);
    await waitFor(() => total() >= 300 && security.got.length >= 300, 'both groups got 300');
    await sleep(100);
    const all = billing.flatMap((m) => m.got.map(offsetOf)).sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: 300 }, (_, i) => i),
      'billing: each message once',
    );
    for (const m of billing)
      assert.ok(m.got.length > 30, `work is shared (${billing.map((x) => x.got.length)})`);
    assert.equal(security.got.length, 300, 'security sees everything as well');
    for (const m of [...billing, security]) await m.conn.close();
  });
});

test('a member that dies mid-work: its unacked messages go to another member, flagged redelivered', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  await withStream(async (broker) => {
    await publish(broker.url, 100);
    const dying = await member(broker.url, 'workers', {}, () => -1, 20);
    await waitFor(() => dying.got.length >= 20, 'the dying member holds 20');
    const held = dying.got.map(offsetOf);
    const survivor = await member(broker.url, 'workers');
    await sleep(100);
    assert.ok(
      survivor.got.every((m) => !held.includes(offsetOf(m))),
      'held messages stay with their holder',
    );
    await dying.conn.close(); // no acks: everything it held goes back
    await waitFor(() => survivor.got.length >= 100, 'the survivor gets all 100');
    const redelivered = survivor.got
      .filter((m) => m.fields.redelivered)
      .map(offsetOf)
      .sort((a, b) => a - b);
    assert.deepEqual(redelivered, held);
    assert.deepEqual(
      survivor.got.map(offsetOf).sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    );
    await survivor.conn.close();
  });
});

test('per-key order: messages sharing a key go to one member at a time, in order', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  await withStream(async (broker) => {
    // One tracker across all members: per key, how many are in flight and which offsets were delivered.
    const inFlight = new Map<string, number>();
    const delivered = new Map<string, number[]>();
    let overlaps = 0;
    const members: Member[] = [];
    for (let i = 0; i < 3; i++) {
      const conn = await connect(broker.url);
      const ch = await openChannel(conn);
      await ch.prefetch(10);
      const m: Member = { conn, ch, got: [], acked: [] };
      await ch.consume(
        STREAM,
        (msg) => {
          if (!msg) return;
          const key = String(msg.properties.headers?.key);
          m.got.push(msg);
          if ((inFlight.get(key) ?? 0) > 0) overlaps++;
          inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
          delivered.set(key, [...(delivered.get(key) ?? []), offsetOf(msg)]);
          setTimeout(
            () => {
              inFlight.set(key, inFlight.get(key)! - 1);
              ch.ack(msg);
              m.acked.push(offsetOf(msg));
            },
            1 + Math.floor(Math.random() * 6),
          );
        },
        {
          arguments: {
            'x-consumer-group': 'ordered',
            'x-group-key': 'header:key',
            'x-stream-offset': 'first',
          },
        },
      );
      members.push(m);
    }
    await publish(broker.url, 200);
    await waitFor(() => members.reduce((n, m) => n + m.acked.length, 0) >= 200, 'all 200 acked', 20_000);
    assert.equal(overlaps, 0, 'never two messages of one key in flight at once');
    assert.equal(delivered.size, 5);
    for (const [key, offsets] of delivered) {
      assert.deepEqual(
        offsets,
        [...offsets].sort((a, b) => a - b),
        `key ${key}: delivered in publish order`,
      );
      assert.equal(offsets.length, 40, `key ${key}: 40 messages, each once`);
    }
    assert.ok(members.filter((m) => m.got.length > 0).length >= 2, 'the work is spread over members');
    for (const m of members) await m.conn.close();
  });
});

test('kill -9 mid-work: no acked message comes back to the group, no unacked one is lost', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  let broker = await startBroker();
  const { dataDir } = broker;
  try {
    const setup = await connect(broker.url);
    await (await openChannel(setup)).assertQueue(STREAM, {
      durable: true,
      arguments: { 'x-queue-type': 'stream' },
    });
    await setup.close();
    await publish(broker.url, 3000);
    let paused = false;
    const acked = new Set<number>();
    const workers: Member[] = [];
    for (let i = 0; i < 2; i++) {
      const conn = await connect(broker.url);
      const ch = await openChannel(conn);
      await ch.prefetch(50);
      const m: Member = { conn, ch, got: [], acked: [] };
      await ch.consume(
        STREAM,
        (msg) => {
          if (!msg || paused) return; // paused: delivered, never acked
          ch.ack(msg);
          acked.add(offsetOf(msg));
        },
        { arguments: { 'x-consumer-group': 'g', 'x-stream-offset': 'first' } },
      );
      workers.push(m);
    }
    await waitFor(() => acked.size >= 1000, '1000 acked');
    paused = true;
    for (const w of workers) await w.ch.checkQueue(STREAM); // a round trip: the acks before it were applied
    await sleep(200); // longer than the group's save interval and its sync
    await broker.kill9();
    for (const w of workers) await w.conn.close().catch(() => {});

    broker = await startBroker({ dataDir });
    const after = await member(broker.url, 'g', {}, () => 0, 100);
    const expected = 3000 - acked.size;
    await waitFor(() => after.got.length >= expected, `${expected} unacked messages delivered again`, 15_000);
    await sleep(200);
    const again = after.got.map(offsetOf);
    assert.equal(again.filter((o) => acked.has(o)).length, 0, 'no acked message comes back');
    assert.equal(
      new Set([...acked, ...again]).size,
      3000,
      'every message acked exactly once across the crash',
    );
    assert.equal(again.length, expected);
    await after.conn.close();
  } finally {
    await broker.kill9();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a group is reset to a time (replay) and inspected over the management API', async (t) => {
  if (isExternalBroker()) return t.skip(SKIP_REASON);
  await withStream(async (broker) => {
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`http://127.0.0.1:${broker.httpPort}/api/streams/%2F/${STREAM}${path}`, {
        ...init,
        headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, ...init.headers },
      });
    await publish(broker.url, 10);
    await sleep(30);
    const between = Date.now();
    await sleep(30);
    await publish(broker.url, 10);
    const reader = await member(broker.url, 'replay');
    await waitFor(() => reader.acked.length >= 20, 'the group read all 20');
    await sleep(100);
    let groups = (await (await api('/groups')).json()) as Array<{
      name: string;
      committed: number;
      lag: number;
      members: number;
    }>;
    assert.deepEqual(
      groups.map((g) => [g.name, g.committed, g.lag, g.members]),
      [['replay', 20, 0, 1]],
    );

    const reset = await api('/groups/replay', {
      method: 'PUT',
      body: JSON.stringify({ timestamp: between }),
    });
    assert.equal(reset.status, 204);
    await waitFor(() => reader.acked.length >= 30, 'the second batch again');
    await sleep(100);
    assert.deepEqual(
      reader.got.slice(20).map(offsetOf),
      Array.from({ length: 10 }, (_, i) => 10 + i),
      'replayed from the time: the second batch',
    );
    assert.equal((await api('/groups/replay', { method: 'PUT', body: '{"offset":"first"}' })).status, 204);
    await waitFor(() => reader.acked.length >= 50, 'everything again from first');
    await sleep(100);
    assert.equal((await api('/groups/replay', { method: 'PUT', body: '{"offset":"sideways"}' })).status, 400);
    assert.equal((await api('/../nope/groups')).status, 404);
    groups = (await (await api('/groups')).json()) as typeof groups;
    assert.equal(groups[0].lag, 0);
    await reader.conn.close();
  });
});
