import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeBasicProperties } from '../../src/codec/basic-properties.js';
import { ClassicQueue } from '../../src/core/classic-queue.js';
import { Message } from '../../src/core/message.js';
import { MessageLog } from '../../src/core/message-log.js';
import { parseQueueArguments } from '../../src/core/queue-arguments.js';
import { QueueClaims } from '../../src/core/queue-claims.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { tempDir } from '../store/helpers.js';

/** Claims are leases in core: Zaqar's arithmetic in whole seconds, messages back when a claim ends. */

async function openQueue(): Promise<ClassicQueue> {
  const store = await QueueStore.open({
    dir: tempDir('queue-claims-'),
    commit: new GroupCommit({ fsync: false }),
    fsync: false,
    durable: false,
  });
  return new ClassicQueue(
    {
      id: 'q-id',
      name: 'q',
      vhost: '/',
      durable: false,
      autoDelete: false,
      arguments: {},
      exclusiveOwner: null,
    },
    parseQueueArguments({}, "queue 'q'"),
    new MessageLog(store, { cacheBytes: 1 << 20, readAheadBytes: 64 * 1024 }),
    { requestDelete: () => {}, deadLetter: () => {}, onStoreError: () => {} },
  );
}

const PROPERTIES = encodeBasicProperties({});

function post(queue: ClassicQueue, text: string, ttlSeconds?: number): number {
  const ttl = ttlSeconds === undefined ? -1 : ttlSeconds * 1000;
  return queue.append(new Message('', 'q', PROPERTIES, Buffer.from(text), false, 0, ttl, Date.now()));
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const terms = (ttlSeconds: number, graceSeconds = 60) => ({ ttlSeconds, graceSeconds });

test('a claim takes up to its limit of the oldest ready messages; none to take keeps no claim', async () => {
  const queue = await openQueue();
  const claims = new QueueClaims(queue);
  for (const t of ['a', 'b', 'c']) post(queue, t);
  const first = await claims.create(terms(120), 2);
  assert.ok(first);
  assert.deepEqual(
    first.messages.map((m) => m.message.body.toString()),
    ['a', 'b'],
  );
  assert.deepEqual(claims.offsetsOf(first.claim), [0, 1]);
  const second = await claims.create(terms(120), 5);
  assert.deepEqual(
    second?.messages.map((m) => m.offset),
    [2],
  );
  assert.equal(await claims.create(terms(120), 5), undefined);
  assert.equal(claims.find(first.claim.id), first.claim);
  assert.equal(claims.find('6b4d3c2a-1f0e-4d9c-8b7a-695847362514'), undefined);
});

test('grace: a message that would die before its claim lives until claim expiry + grace, reporting ttl + grace', async () => {
  const queue = await openQueue();
  const claims = new QueueClaims(queue);
  const short = post(queue, 'short', 60);
  const long = post(queue, 'long', 3600);
  const now = Date.now();
  const made = await claims.create(terms(100, 30), 10, now);
  assert.ok(made);
  const claimExpiresMs = (Math.floor(now / 1000) + 100) * 1000;
  assert.equal(made.claim.expiresAtSeconds * 1000, claimExpiresMs);
  assert.equal(queue.locate(short)?.expiresAt, claimExpiresMs + 30_000);
  const shortMessage = made.messages[0].message;
  assert.equal(claims.ttlSecondsOf(short, claimExpiresMs + 30_000, shortMessage.timestamp), 130);
  const longAt = queue.locate(long);
  assert.ok(longAt);
  assert.equal(claims.ttlSecondsOf(long, longAt.expiresAt, made.messages[1].message.timestamp), 3600);
  // A grace TTL holds only while the message keeps the expiry that grace gave it.
  const otherExpiry = claimExpiresMs + 31_000;
  assert.equal(
    claims.ttlSecondsOf(short, otherExpiry, shortMessage.timestamp),
    Math.round((otherExpiry - shortMessage.timestamp) / 1000),
  );
});

test('grace compares whole seconds: strictly earlier on create, earlier or equal on renew (as Zaqar)', async () => {
  const queue = await openQueue();
  const claims = new QueueClaims(queue);
  const offset = post(queue, 'edge', 60);
  const expiresAt = queue.locate(offset)?.expiresAt ?? 0;
  // A claim made 60 s before the message's expiry second ends in that same second: not "before" it.
  const madeAt = expiresAt - 60_000;
  const made = await claims.create(terms(60, 45), 1, madeAt);
  assert.ok(made);
  assert.equal(queue.locate(offset)?.expiresAt, expiresAt, 'create: not extended');
  claims.renew(made.claim, terms(60, 45), madeAt);
  const extended = (Math.floor(madeAt / 1000) + 60 + 45) * 1000;
  assert.equal(queue.locate(offset)?.expiresAt, extended, 'renew: extended');
  assert.equal(claims.ttlSecondsOf(offset, extended, made.messages[0].message.timestamp), 105);
});

test('an expired claim gives its messages back (redelivered) and is no longer found; a renewed one keeps them', async () => {
  const queue = await openQueue();
  const claims = new QueueClaims(queue);
  const lapsing = post(queue, 'lapsing');
  const kept = post(queue, 'kept');
  // Made (on the claim's clock) just under a minute ago: a 60 s claim with little time left.
  const longAgo = Date.now() - 59_800;
  const a = await claims.create(terms(60), 1, longAgo);
  const b = await claims.create(terms(60), 1, longAgo);
  assert.ok(a && b);
  claims.renew(b.claim, terms(60));
  await until(() => queue.locate(lapsing)?.held === false, 'the lapsed claim returns its message');
  assert.equal(claims.find(a.claim.id), undefined);
  assert.equal(queue.locate(kept)?.held, true);
  assert.equal(claims.find(b.claim.id), b.claim);
  const again = await queue.get(true);
  assert.equal(again?.offset, lapsing);
  assert.equal(again?.redelivered, true);
  assert.equal(again?.deliveryCount, 1);
});

test('release puts a claim’s messages back at once and forgets the claim; deleted ones stay deleted', async () => {
  const queue = await openQueue();
  const claims = new QueueClaims(queue);
  for (const t of ['a', 'b', 'c']) post(queue, t);
  const made = await claims.create(terms(300), 3);
  assert.ok(made);
  assert.equal(queue.ack(1), true, 'deleted with the claim');
  assert.deepEqual(claims.offsetsOf(made.claim), [0, 2]);
  claims.release(made.claim);
  assert.equal(claims.find(made.claim.id), undefined);
  assert.equal(queue.messageCount, 2);
  assert.equal(queue.unackedCount, 0);
  assert.equal(queue.locate(1), undefined);
});

test('a message without expiry reports a TTL of -1 and is never extended', async () => {
  const queue = await openQueue();
  const claims = new QueueClaims(queue);
  const offset = post(queue, 'forever');
  const made = await claims.create(terms(60), 1);
  assert.ok(made);
  assert.equal(queue.locate(offset)?.expiresAt, 0);
  assert.equal(claims.ttlSecondsOf(offset, 0, made.messages[0].message.timestamp), -1);
});

test('a snapshot of live claims restores them, with the expiries and TTLs their grace set', async () => {
  const queue = await openQueue();
  const claims = new QueueClaims(queue);
  const graced = post(queue, 'graced', 60);
  const free = post(queue, 'free');
  const made = await claims.create(terms(120, 30), 1);
  assert.ok(made);
  const gracedExpiry = queue.locate(graced)?.expiresAt ?? 0;
  const saved = JSON.parse(JSON.stringify(claims.snapshot())); // as the metadata store keeps it
  // What a restart leaves: every recovered message ready.
  queue.releaseOwner(made.claim);
  const restored = new QueueClaims(queue);
  restored.restore(saved);
  const claim = restored.find(made.claim.id);
  assert.ok(claim);
  assert.deepEqual(restored.offsetsOf(claim), [graced]);
  assert.equal(queue.locate(graced)?.expiresAt, gracedExpiry);
  assert.equal(restored.ttlSecondsOf(graced, gracedExpiry, made.messages[0].message.timestamp), 150);
  assert.equal(queue.locate(free)?.held, false);
  // An expired claim is not restored.
  restored.release(claim);
  const stale = { ...saved, claims: saved.claims.map((c: { expires: number }) => ({ ...c, expires: 1 })) };
  const again = new QueueClaims(queue);
  again.restore(stale);
  assert.equal(again.find(made.claim.id), undefined);
  assert.equal(queue.unackedCount, 0);
});
