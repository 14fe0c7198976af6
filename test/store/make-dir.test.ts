import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeDir } from '../../src/store/fs-io.js';
import { tempDir } from './helpers.js';

describe('makeDir', () => {
  it('creates missing parents and accepts an existing directory', async () => {
    const dir = tempDir('make-dir-');
    try {
      const target = join(dir, 'a', 'b', 'c');
      await makeDir(target, true);
      assert.ok(statSync(target).isDirectory());
      await makeDir(target, true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails with ENOTDIR when a path component is a file', async () => {
    const dir = tempDir('make-dir-');
    try {
      writeFileSync(join(dir, 'file'), '');
      await assert.rejects(makeDir(join(dir, 'file', 'data'), false), { code: 'ENOTDIR' });
      await assert.rejects(makeDir(join(dir, 'file'), false), { code: 'ENOTDIR' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  // Node's own recursive mkdir retries forever here: /proc exists, but mkdir under it says ENOENT.
  it('fails at once under /proc instead of retrying forever', {
    skip: process.platform !== 'linux' && 'needs /proc',
    timeout: 5_000,
  }, async () => {
    await assert.rejects(makeDir('/proc/eventter-make-dir-test/data', false), { code: 'ENOENT' });
  });
});
