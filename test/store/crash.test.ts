import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { tempDir } from './helpers.js';

const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), 'crash-writer.js');

test('kill -9 mid-append: every confirmed record survives and appends continue after it', async () => {
  const dir = tempDir('store-crash-');
  const child = spawn(process.execPath, [writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const confirmed = await new Promise<number>((resolve, reject) => {
    let last = -1;
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const l of lines) last = Math.max(last, Number(l));
      if (last >= 20_000) {
        child.kill('SIGKILL');
        resolve(last);
      }
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited early: ${code}`));
    });
  });
  await new Promise((r) => child.once('close', r));
  const store = await QueueStore.open({ dir, commit: new GroupCommit(), fsync: true, durable: true });
  let expected = 0;
  await store.recover((offset) => {
    assert.equal(offset, expected++, 'recovered offsets are contiguous from 0');
  });
  assert.ok(expected > confirmed, `recovered ${expected} records, ${confirmed + 1} were confirmed`);
  assert.equal(store.nextOffset, expected);
  assert.equal((await store.read(confirmed))!.routingKey, `rk.${confirmed}`);
  assert.equal(store.append({ ...(await store.read(0))!, routingKey: 'after' }), expected);
  await store.destroy();
});
