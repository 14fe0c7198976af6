import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { durable, record, recoverEntries, recoverOffsets, tempDir } from './helpers.js';

const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-writer.js');
const CYCLES = 3;

/** Runs the writer on dir until it has confirmed `more` records, kills it with SIGKILL; the offsets confirmed. */
function writeUntilKilled(dir: string, more: number): Promise<{ first: number; last: number }> {
  const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let first = -1;
    let last = -1;
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const l of lines) {
        if (l.startsWith('start ')) first = Number(l.slice(6));
        else last = Math.max(last, Number(l));
      }
      if (first >= 0 && last >= first + more) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ first, last });
      else reject(new Error(`writer exited early: ${code}`));
    });
  });
}

async function recoverLive(dir: string): Promise<{ store: QueueStore; live: Set<number> }> {
  const store = await QueueStore.open({ dir, commit: new GroupCommit(), fsync: true, durable: true });
  const live = new Set(await recoverOffsets(store));
  return { store, live };
}

/** Recovery from the entry tables, then by a scan of every segment (indexes deleted): they must agree. */
async function tablesAgreeWithScan(dir: string, cycle: number): Promise<void> {
  let store = await QueueStore.open({ dir, commit: new GroupCommit(), fsync: true, durable: true });
  const fromTables = await recoverEntries(store);
  assert.ok(store.recovery.segmentsFromIndex > 0, `cycle ${cycle}: sealed segments came from their tables`);
  await store.close();
  for (const n of fs.readdirSync(dir)) if (n.endsWith('.idx')) fs.unlinkSync(path.join(dir, n));
  store = await QueueStore.open({ dir, commit: new GroupCommit(), fsync: true, durable: true });
  assert.deepEqual(await recoverEntries(store), fromTables, `cycle ${cycle}: tables and scan agree`);
  assert.equal(store.recovery.segmentsFromIndex, 0);
  await store.close();
}

test('kill -9 while appending and settling across roll-over: confirmed records survive, offsets never reused', async () => {
  const dir = tempDir('store-crash-');
  const confirmed: Array<{ first: number; last: number }> = [];
  const afterRestart: number[] = [];
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    confirmed.push(await writeUntilKilled(dir, 15_000));
    await tablesAgreeWithScan(dir, cycle);
    let { store, live } = await recoverLive(dir);
    for (const { first, last } of confirmed) {
      for (let o = first; o <= last; o++) {
        if (o % 3 === 2 && !live.has(o))
          assert.fail(`cycle ${cycle}: confirmed, never settled offset ${o} is missing`);
      }
    }
    for (const o of afterRestart)
      assert.ok(live.has(o), `cycle ${cycle}: message ${o} confirmed after a restart survives`);
    for (const o of live)
      assert.equal((await store.read(o))!.routingKey, `rk.${o}`, `offset ${o} holds its own record`);
    // Messages confirmed after the crash must survive the next restarts, whatever the settle log held.
    const fresh: number[] = [];
    for (let i = 0; i < 300; i++) fresh.push(store.append(record(store.nextOffset, true, 50)));
    await durable(store, fresh[fresh.length - 1]);
    await store.close();
    ({ store, live } = await recoverLive(dir));
    for (const o of fresh) assert.ok(live.has(o), `cycle ${cycle}: fresh offset ${o} survives a restart`);
    await store.close();
    afterRestart.push(...fresh);
  }
  const { store } = await recoverLive(dir);
  await store.destroy();
});
