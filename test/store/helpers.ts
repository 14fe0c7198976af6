import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import type { NewRecord } from '../../src/store/record-format.js';
import type { StorageDamage } from '../../src/store/storage-damage.js';

export function tempDir(prefix = 'store-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs body with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir(prefix: string, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir(prefix);
  try {
    await body(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The files of dir whose names end with ext, sorted, as full paths. */
export function filesEndingWith(dir: string, ext: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((n) => n.endsWith(ext))
    .sort()
    .map((n) => path.join(dir, n));
}

/** A durable queue store without fsync, collecting its warnings and damage reports when asked. */
export function openDurableQueue(
  dir: string,
  commit: GroupCommit,
  segmentMaxBytes: number,
  report: { warnings?: string[]; damage?: StorageDamage[] } = {},
): Promise<QueueStore> {
  return QueueStore.open({
    dir,
    commit,
    fsync: false,
    durable: true,
    segmentMaxBytes,
    onWarning: (m) => report.warnings?.push(m),
    onDamage: (d) => report.damage?.push(d),
  });
}

export function record(i: number, persistent = true, bodyBytes = 0): NewRecord {
  const text = `message-${i}`;
  const body = bodyBytes > 0 ? Buffer.alloc(bodyBytes, i & 0xff) : Buffer.from(text);
  return {
    timestamp: 1_000 + i,
    persistent,
    expiresAt: 0,
    priority: i % 10,
    exchange: 'ex',
    routingKey: `rk.${i}`,
    properties: Buffer.from([i & 0xff]),
    body,
  };
}

export function durable(log: { whenDurable(o: number, cb: (e: Error | null) => void): void }, o: number) {
  return new Promise<void>((resolve, reject) => log.whenDurable(o, (e) => (e ? reject(e) : resolve())));
}

export interface LiveEntry {
  offset: number;
  size: number;
  expiresAt: number;
  priority: number;
}

/** Every live record store.recover() streams, one object each (tests only; recovery itself hands batches). */
export async function recoverEntries(store: QueueStore): Promise<LiveEntry[]> {
  const out: LiveEntry[] = [];
  await store.recover((b) => {
    for (let i = 0; i < b.count; i++)
      out.push({
        offset: b.offsets[i],
        size: b.sizes[i],
        expiresAt: b.expiresAt[i],
        priority: b.priorities[i],
      });
  });
  return out;
}

/** The offsets of recoverEntries(store). */
export async function recoverOffsets(store: QueueStore): Promise<number[]> {
  return (await recoverEntries(store)).map((e) => e.offset);
}
