import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { access, authorize, authorizeTopic, isAllowed } from '../../src/core/authorization.js';
import { PublishPermissions } from '../../src/core/publish-permissions.js';
import { VHost } from '../../src/core/vhost.js';
import type { VhostLimits } from '../../src/core/vhost-info.js';
import { GroupCommit } from '../../src/store/group-commit.js';
import { MetadataStore } from '../../src/store/metadata-store.js';
import { QueueStore } from '../../src/store/queue-store.js';
import { StreamStore } from '../../src/store/stream-store.js';
import { fakePrincipal } from '../helpers/fake-principal.js';

/** RabbitMQ's permission rules and the order of checks, without sockets. */

const refused = (kind: string, name: string, user = 'u') =>
  new RegExp(
    `ACCESS_REFUSED - access to ${kind} '${name.replace(/\./g, '\\.')}' in vhost '/' refused for user '${user}'$`,
  );

describe('authorize', () => {
  const u = fakePrincipal('u', { configure: '^c-', write: '^w-', read: '^r-' });

  it('matches each access against its own pattern, with RabbitMQ’s text on refusal', () => {
    assert.equal(isAllowed(u, 'configure', { kind: 'queue', vhost: '/', name: 'c-q' }), true);
    assert.equal(isAllowed(u, 'write', { kind: 'queue', vhost: '/', name: 'c-q' }), false);
    assert.throws(
      () => authorize(u, 'read', { kind: 'exchange', vhost: '/', name: 'w-x' }),
      refused('exchange', 'w-x'),
    );
  });

  it('names the default exchange amq.default', () => {
    const w = fakePrincipal('u', { configure: '', write: '^amq\\.default$', read: '' });
    authorize(w, 'write', { kind: 'exchange', vhost: '/', name: '' });
    assert.throws(
      () => authorize(u, 'write', { kind: 'exchange', vhost: '/', name: '' }),
      refused('exchange', 'amq.default'),
    );
  });

  it('refuses everything in a vhost without permissions', () => {
    assert.throws(
      () => authorize(u, 'configure', { kind: 'queue', vhost: 'other', name: 'c-q' }),
      /access to queue 'c-q' in vhost 'other' refused for user 'u'/,
    );
  });

  it('checks topic permissions on topic exchanges only, and only where some are set', () => {
    const t = fakePrincipal(
      'ann',
      { configure: '', write: '.*', read: '.*' },
      { 'amq.topic': { write: '^{username}\\.', read: '' } },
    );
    authorizeTopic(t, 'write', '/', { name: 'amq.topic', type: 'topic' }, 'ann.orders');
    assert.throws(
      () => authorizeTopic(t, 'write', '/', { name: 'amq.topic', type: 'topic' }, 'bob.orders'),
      /ACCESS_REFUSED - access to topic 'bob.orders' in exchange 'amq.topic' in vhost '\/' refused for user 'ann'$/,
    );
    // "" matches nothing: no binding key may be read.
    assert.throws(
      () => authorizeTopic(t, 'read', '/', { name: 'amq.topic', type: 'topic' }, 'ann.orders'),
      /access to topic/,
    );
    authorizeTopic(t, 'write', '/', { name: 'amq.direct', type: 'direct' }, 'bob.orders');
    authorizeTopic(t, 'write', '/', { name: 'other-topic', type: 'topic' }, 'bob.orders');
  });
});

describe('access rules', () => {
  it('bind: write on the destination, then the default exchange, then read on the source, then topic read', () => {
    const none = fakePrincipal('u', { configure: '', write: '', read: '' });
    const queue = { kind: 'queue' as const, vhost: '/', name: 'q' };
    assert.throws(() => access.bind(none, '/', queue, '', undefined, 'k'), refused('queue', 'q'));
    const w = fakePrincipal('u', { configure: '', write: '.*', read: '' });
    assert.throws(
      () => access.bind(w, '/', queue, '', undefined, 'k'),
      /operation not permitted on the default exchange/,
    );
    assert.throws(() => access.bind(w, '/', queue, 'x', undefined, 'k'), refused('exchange', 'x'));
    const wr = fakePrincipal(
      'u',
      { configure: '', write: '.*', read: '.*' },
      { x: { write: '', read: '^ok' } },
    );
    access.bind(wr, '/', queue, 'x', { name: 'x', type: 'topic' }, 'ok.1');
    access.bind(wr, '/', queue, 'x', undefined, 'not-ok'); // a missing source: its 404 comes later
    assert.throws(
      () => access.bind(wr, '/', queue, 'x', { name: 'x', type: 'topic' }, 'not-ok'),
      /access to topic 'not-ok'/,
    );
  });

  it('creating a queue with a dead-letter exchange needs read on the queue first, then write on the exchange', () => {
    const c = fakePrincipal('u', { configure: '.*', write: '', read: '' });
    access.createQueue(c, '/', 'q', undefined);
    assert.throws(() => access.createQueue(c, '/', 'q', 'dlx'), refused('queue', 'q'));
    const cr = fakePrincipal('u', { configure: '.*', write: '', read: '.*' });
    assert.throws(() => access.createQueue(cr, '/', 'q', 'dlx'), refused('exchange', 'dlx'));
    assert.throws(() => access.createQueue(cr, '/', 'q', ''), refused('exchange', 'amq.default'));
  });

  it('creating an exchange with an alternate exchange needs read on it first, then write on the alternate', () => {
    const c = fakePrincipal('u', { configure: '.*', write: '', read: '' });
    assert.throws(() => access.createExchange(c, '/', 'x', 'ae'), refused('exchange', 'x'));
    const cr = fakePrincipal('u', { configure: '.*', write: '', read: '.*' });
    assert.throws(() => access.createExchange(cr, '/', 'x', 'ae'), refused('exchange', 'ae'));
  });
});

describe('the publish check cache', () => {
  it('remembers the last exchange until permissions change, and checks topic keys where rules exist', () => {
    const p = fakePrincipal(
      'u',
      { configure: '', write: '.*', read: '' },
      { 'amq.topic': { write: '^a\\.', read: '' } },
    );
    const exchanges: Record<string, { name: string; type: string; internal: boolean }> = {
      'amq.topic': { name: 'amq.topic', type: 'topic', internal: false },
      hidden: { name: 'hidden', type: 'topic', internal: true },
    };
    let lookups = 0;
    const check = new PublishPermissions(p, '/', (name) => {
      lookups++;
      return exchanges[name];
    });
    check.check('x', 'k');
    check.check('x', 'k');
    assert.equal(lookups, 0, 'no topic rules for x: the exchange is never looked up');
    check.check('amq.topic', 'a.1');
    assert.throws(() => check.check('amq.topic', 'b.1'), /access to topic 'b.1'/);
    p.setPatterns({ configure: '', write: '^y$', read: '' });
    assert.throws(() => check.check('amq.topic', 'a.1'), refused('exchange', 'amq.topic'));
    check.check('y', 'anything');
  });

  it('leaves missing and internal exchanges to their own errors', () => {
    const p = fakePrincipal(
      'u',
      { configure: '', write: '.*', read: '' },
      { hidden: { write: '^a$', read: '' }, gone: { write: '^a$', read: '' } },
    );
    const check = new PublishPermissions(p, '/', (name) =>
      name === 'hidden' ? { name, type: 'topic', internal: true } : undefined,
    );
    check.check('hidden', 'b');
    check.check('gone', 'b');
  });
});

describe('the order of checks inside the vhost', () => {
  const dirs: string[] = [];
  const owner = {};
  after(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  async function openVHost(limits: VhostLimits = {}) {
    const dir = await mkdtemp(join(tmpdir(), 'authz-vhost-'));
    dirs.push(dir);
    const commit = new GroupCommit({ fsync: false });
    const meta = await MetadataStore.open(join(dir, 'meta'), { fsync: false });
    const vhost = new VHost('/', {
      meta,
      queueOptions: { cacheBytes: 1 << 20, readAheadBytes: 1 << 16 },
      openQueueStore: (id, durable) =>
        QueueStore.open({ dir: join(dir, 'q', id), commit, fsync: false, durable }),
      openStreamStore: (id, segmentMaxBytes) =>
        StreamStore.open({ dir: join(dir, 's', id), commit, fsync: false, segmentMaxBytes }),
      onQueueStoreError: () => {},
      limits: () => limits,
    });
    const close = async () => {
      await vhost.close();
      await meta.close();
    };
    return { vhost, close };
  }

  it('queue.declare: reserved name, configure, then (new queues only) the queue limit and the dead-letter checks', async () => {
    const { vhost, close } = await openVHost({ 'max-queues': 1 });
    const admin = fakePrincipal('admin', { configure: '.*', write: '.*', read: '.*' });
    const c = fakePrincipal('u', { configure: '.*', write: '', read: '' });
    const none = fakePrincipal('u', { configure: '', write: '', read: '' });
    await assert.rejects(vhost.declareQueue('amq.q', { owner, principal: none }), /reserved prefix/);
    await assert.rejects(vhost.declareQueue('q', { owner, principal: none }), refused('queue', 'q'));
    assert.equal(vhost.queueCount, 0, 'a refused declare creates nothing');
    const dlx = { 'x-dead-letter-exchange': 'dlx' };
    await vhost.declareQueue('q', { owner, principal: admin, arguments: dlx });
    // Existing: equivalent, and its dead-letter exchange is not checked again.
    await vhost.declareQueue('q', { owner, principal: c, arguments: dlx });
    // New, past the limit: the limit is reported before the missing dead-letter permissions.
    await assert.rejects(
      vhost.declareQueue('q2', { owner, principal: c, arguments: dlx }),
      /PRECONDITION_FAILED - cannot declare queue 'q2': queue limit in vhost '\/' \(1\) is reached$/,
    );
    await close();
  });

  it('exchange.declare: the type first; reserved names only for new exchanges, after configure', async () => {
    const { vhost, close } = await openVHost();
    const none = fakePrincipal('u', { configure: '', write: '', read: '' });
    const c = fakePrincipal('u', { configure: '.*', write: '', read: '' });
    await assert.rejects(vhost.declareExchange('x', 'bogus', { principal: none }), /invalid type 'bogus'/);
    await assert.rejects(
      vhost.declareExchange('amq.new', 'direct', { principal: none }),
      refused('exchange', 'amq.new'),
    );
    await assert.rejects(vhost.declareExchange('amq.new', 'direct', { principal: c }), /reserved prefix/);
    await vhost.declareExchange('amq.direct', 'direct', { durable: true, principal: c });
    await assert.rejects(
      vhost.declareExchange('x', 'direct', { principal: c, arguments: { 'alternate-exchange': 'ae' } }),
      refused('exchange', 'x'),
    );
    assert.equal(vhost.findExchange('x'), undefined);
    await close();
  });

  it('exchange.delete and binds: system exchanges and the default one are refused before permissions', async () => {
    const { vhost, close } = await openVHost();
    const none = fakePrincipal('u', { configure: '', write: '', read: '' });
    await assert.rejects(
      vhost.deleteExchange('amq.fanout', false, none),
      /deletion of system exchange 'amq.fanout' in vhost '\/' not allowed/,
    );
    await assert.rejects(vhost.deleteExchange('x', false, none), refused('exchange', 'x'));
    // Permissions come before existence: a refused bind says nothing about whether the queue exists.
    await assert.rejects(
      vhost.bindQueue('missing', 'amq.direct', 'k', {}, owner, none),
      refused('queue', 'missing'),
    );
    const wr = fakePrincipal('u', { configure: '', write: '.*', read: '.*' });
    await assert.rejects(vhost.bindQueue('missing', 'amq.direct', 'k', {}, owner, wr), /no queue 'missing'/);
    await assert.rejects(vhost.bindExchange('amq.fanout', '', 'k', {}, wr), /default exchange/);
    await close();
  });
});
