import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { BrokerUnderTest } from '../helpers/broker-under-test.js';
import { commandWorks, DEBIAN_PYTHON, missingSystemPackage } from '../helpers/system-packages.js';
import { startZaqar, type Zaqar, zaqarUnavailableReason } from '../helpers/zaqar.js';
import { startBrokerWithProjects } from './zaqar-world.js';

/**
 * The official OpenStack client (Debian python3-zaqarclient) works against EventterMQ unchanged: queue
 * create with metadata, post, list, claim, renew, delete, release, get, pop, bulk delete, list and delete
 * queues. Credentials ride in the URL (the client's HTTP library sends them as Basic auth). Where Zaqar
 * is installed the same script runs against it and must see exactly the same.
 */

// Compiled to dist/test/http-queues/: the script stays in the source tree.
const SCRIPT = resolve(
  fileURLToPath(new URL('.', import.meta.url)),
  '../../../test/http-queues/zaqarclient_check.py',
);
const PROJECT = 'zaqar-client';

const EXPECTED = {
  after_bulk_delete: 0,
  after_delete: { claimed: 0, free: 2, total: 2 },
  claim_ttl_after_update: 300,
  claimed: [
    ['id1', { job: 1 }],
    ['id2', 'job two'],
  ],
  default_ttl: 300,
  listed: [
    ['id1', { job: 1 }, 120],
    ['id2', 'job two', 300],
    ['id3', [3], 300],
    ['id4', 4, 300],
  ],
  metadata: { team: 'ops' },
  one: ['id3', [3]],
  popped: [[3]],
  queues: ['client-jobs'],
  queues_after_delete: [],
  released: ['id3'],
  stats: { claimed: 0, free: 4, total: 4 },
};

function runClient(url: string): Promise<unknown> {
  return new Promise((done, fail) => {
    execFile(DEBIAN_PYTHON, [SCRIPT, url, PROJECT], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`zaqarclient_check.py failed: ${err.message}\n${stderr}`));
      else done(JSON.parse(stdout));
    });
  });
}

const clientInstalled = commandWorks(DEBIAN_PYTHON, ['-c', 'import zaqarclient']);
let broker: BrokerUnderTest | undefined;
let zaqar: Zaqar | undefined;
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'eventter-zaqarclient-'));
  if (!clientInstalled) return;
  [broker, zaqar] = await Promise.all([startBrokerWithProjects([], dir, [], [PROJECT]), startZaqar()]);
});
after(async () => {
  await Promise.all([broker?.stop(), zaqar?.stop()]);
  await rm(dir, { recursive: true, force: true });
});

describe('python3-zaqarclient against the HTTP queue API', () => {
  it('works against EventterMQ unchanged', async (t) => {
    if (!clientInstalled) return missingSystemPackage(t, `zaqarclient is not installed for ${DEBIAN_PYTHON}`);
    assert.ok(broker);
    assert.deepEqual(await runClient(`http://guest:guest@127.0.0.1:${broker.httpPort}`), EXPECTED);
  });

  it('sees the same against the real Zaqar', async (t) => {
    if (!clientInstalled) return missingSystemPackage(t, `zaqarclient is not installed for ${DEBIAN_PYTHON}`);
    if (zaqar === undefined) return missingSystemPackage(t, zaqarUnavailableReason() ?? 'no Zaqar');
    assert.deepEqual(await runClient(zaqar.url), EXPECTED);
  });
});
