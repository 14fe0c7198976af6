import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { NewRecord } from '../../src/store/record-format.js';

export function tempDir(prefix = 'store-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
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
