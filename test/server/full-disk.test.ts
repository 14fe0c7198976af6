import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { ConfirmChannel } from 'amqplib';
import {
  connect,
  connectionClosed,
  expectConnectionClose,
  openConfirmChannel,
  waitFor,
} from '../helpers/amqp-client.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../helpers/broker-under-test.js';
import { ReplyCode } from '../helpers/reply-codes.js';
import { SmallFilesystem } from '../helpers/small-filesystem.js';

const MIB = 1024 * 1024;
const MESSAGES = 1000;
const CONFIRM_WAIT_MS = 5_000;

async function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), CONFIRM_WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with the error that failed the confirms (null when all were acked), or a timeout error. */
async function confirmOutcome(ch: ConfirmChannel): Promise<Error | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Error>((resolve) => {
    timer = setTimeout(() => resolve(new Error(`no confirm within ${CONFIRM_WAIT_MS} ms`)), CONFIRM_WAIT_MS);
  });
  try {
    return await Promise.race([
      ch.waitForConfirms().then(
        () => null,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test('a full disk neither tears the metadata journal nor loses what is declared and confirmed once space is back', {
  timeout: 60_000,
}, async (t) => {
  if (isExternalBroker()) return t.skip('needs the EventterMQ process');
  const created = await SmallFilesystem.create(8 * MIB);
  if (typeof created === 'string') {
    // CI runs as root with unshare available: a skip there would hide a regression.
    const ci = process.env.CI;
    if (ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0') {
      assert.fail(`full-disk test cannot run in CI: ${created}`);
    }
    return t.skip(created);
  }
  const disk = created;
  const logs: string[] = [];
  const brokers: BrokerUnderTest[] = [];
  const start = async () => {
    const broker = await startBroker({
      dataDir: join(disk.dir, 'data'),
      commandPrefix: disk.commandPrefix,
      // No disk alarm: the test wants the writes to hit the full disk. 1 MiB segments fit 8 MiB.
      extraArgs: ['--disk-free-limit', '0', '--segment-max-bytes', String(MIB)],
      onLogLine: (line) => logs.push(line),
    });
    brokers.push(broker);
    return broker;
  };
  try {
    const first = await start();
    const url = first.url;
    let conn = await connect(url);
    let ch = await openConfirmChannel(conn);
    await ch.assertQueue('qa', { durable: true });
    ch.sendToQueue('qa', Buffer.from('qa-before'), { persistent: true });
    assert.equal(await confirmOutcome(ch), null);

    // One page left: the big declare's journal line (~80 KB; amqplib encodes at most 64 KiB of arguments)
    // is written in part, then ENOSPC.
    await disk.fill(4096);
    const bigArgument = { 'x-padding': 'x'.repeat(60_000) };
    const closed = connectionClosed(conn);
    ch.assertQueue('big', { durable: true, arguments: bigArgument }).catch(() => {}); // closed reports it
    await expectConnectionClose(closed, ReplyCode.INTERNAL_ERROR);
    const journal = await readFile(disk.hostPath('data/meta/journal.jsonl'));
    assert.ok(
      journal.length === 0 || journal[journal.length - 1] === 0x0a,
      `the failed write was not rolled back: the journal (${journal.length} bytes) ends in a torn line`,
    );

    conn = await connect(url);
    ch = await openConfirmChannel(conn);
    // A publish onto the full disk: the queue's write fails. The broker may hold it until space is back
    // (then confirm it) or nack it; either way it must be answered, and the queue must work again after.
    const logsBeforeFullPublish = logs.length;
    const fullDiskPublish = new Promise<boolean>((resolve) => {
      ch.sendToQueue('qa', Buffer.alloc(256 * 1024), { persistent: true }, (err: unknown) => resolve(!err));
    });
    await waitFor(
      () => logs.slice(logsBeforeFullPublish).some((line) => line.includes('ENOSPC')),
      'the broker reports the failed queue write',
    );

    await disk.free();
    const fullDiskPublishAcked = await withTimeout(fullDiskPublish, 'the full-disk publish is answered');
    // The failed declare left nothing behind: declaring the name afresh works, with other arguments.
    await ch.assertQueue('big', { durable: false, autoDelete: true });
    await ch.deleteQueue('big');
    await ch.assertQueue('qx', { durable: true });
    await ch.assertQueue('qy', { durable: true });
    for (let i = 0; i < MESSAGES; i++) {
      ch.sendToQueue('qx', Buffer.from(`message ${i}`), { persistent: true, messageId: String(i) });
    }
    assert.equal(await confirmOutcome(ch), null, 'publishes after the disk is freed are confirmed');
    // The queue whose segment write failed takes writes again by itself (no restart).
    ch.sendToQueue('qa', Buffer.from('qa-after'), { persistent: true });
    const qaRecovery = await confirmOutcome(ch);
    await conn.close().catch(() => {});
    assert.equal(await first.stop(), 0, 'graceful stop exits 0');

    const logsBeforeRestart = logs.length;
    const second = await start();
    conn = await connect(second.url);
    ch = await openConfirmChannel(conn);
    const restartLogs = logs.slice(logsBeforeRestart).join('\n');
    assert.doesNotMatch(restartLogs, /torn tail|corrupt/, 'the metadata journal is intact');
    assert.equal((await ch.checkQueue('qx')).messageCount, MESSAGES);
    assert.equal((await ch.checkQueue('qy')).messageCount, 0);
    const qaExpected = fullDiskPublishAcked ? 3 : 2; // qa-before, [the full-disk one,] qa-after
    if (qaRecovery === null) assert.equal((await ch.checkQueue('qa')).messageCount, qaExpected);
    const firstMessage = await ch.get('qx', { noAck: true });
    assert.ok(firstMessage);
    assert.equal(firstMessage.content.toString(), 'message 0');
    await conn.close();
    assert.equal(qaRecovery, null, `a durable queue takes publishes again once space is freed`);
  } finally {
    for (const broker of brokers) await broker.kill9();
    await disk.dispose();
  }
});
