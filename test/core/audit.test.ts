import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decodeBasicProperties } from '../../src/codec/basic-properties.js';
import { AdminError, Administration } from '../../src/core/administration.js';
import { type AuditEvent, type AuditSink, AuditTrail } from '../../src/core/audit.js';
import { AuditOutbox, pendingAuditEvents } from '../../src/core/audit-outbox.js';
import { auditMessage } from '../../src/core/audit-stream.js';
import { storedHashFromRabbit } from '../../src/core/rabbit-password-import.js';
import { UserAdminError } from '../../src/core/user-validation.js';
import { UserRegistry } from '../../src/core/users.js';
import { StoredVhosts } from '../../src/core/vhost-records.js';
import { MetadataStore } from '../../src/store/metadata-store.js';

let root: string;
let count = 0;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'eventter-audit-'));
});
after(async () => {
  await rm(root, { recursive: true, force: true });
});

const openMeta = () => MetadataStore.open(join(root, `meta-${count++}`), { fsync: false });
const actor = { user: 'admin', from: '10.0.0.7' };

class MemorySink implements AuditSink {
  readonly events: AuditEvent[] = [];
  fail = false;
  async append(event: AuditEvent): Promise<void> {
    if (this.fail) throw new Error('disk full');
    this.events.push(event);
  }
}

function recordingLogger() {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  return {
    lines,
    info: (fields: object, message: string) =>
      lines.push({ level: 'info', fields: fields as Record<string, unknown>, message }),
    error: (fields: object, message: string) =>
      lines.push({ level: 'error', fields: fields as Record<string, unknown>, message }),
  };
}

describe('AuditTrail', () => {
  it('logs each change at info with audit: true and hands it to the sink', async () => {
    const sink = new MemorySink();
    const logger = recordingLogger();
    const trail = new AuditTrail(sink, logger, () => Date.UTC(2024, 4, 1, 12));
    const event = await trail.record(actor, { event: 'vhost.created', vhost: 'shop' });
    assert.deepEqual(event, {
      id: event.id,
      at: '2024-05-01T12:00:00.000Z',
      by: 'admin',
      from: '10.0.0.7',
      event: 'vhost.created',
      vhost: 'shop',
    });
    assert.match(event.id, /^[0-9a-f-]{36}$/);
    assert.deepEqual(sink.events, [event]);
    assert.deepEqual(logger.lines, [{ level: 'info', fields: { audit: true, ...event }, message: 'audit' }]);
  });

  it('keeps the change when the sink fails: an error is logged (with a logger) or thrown (without)', async () => {
    const sink = new MemorySink();
    sink.fail = true;
    const logger = recordingLogger();
    await new AuditTrail(sink, logger).record(actor, { event: 'user.deleted', user: 'x' });
    assert.deepEqual(
      logger.lines.map((l) => [l.level, l.message]),
      [
        ['info', 'audit'],
        ['error', 'audit event could not be stored'],
      ],
    );
    await assert.rejects(
      new AuditTrail(sink).record(actor, { event: 'user.deleted', user: 'x' }),
      /disk full/,
    );
  });
});

describe('AuditOutbox', () => {
  it('keeps events durably in the order they were made, even within one millisecond', async () => {
    const meta = await openMeta();
    const trail = new AuditTrail(new AuditOutbox(meta), undefined, () => 1_700_000_000_000);
    const made = [];
    for (const user of ['c', 'a', 'b']) made.push(await trail.record(actor, { event: 'user.created', user }));
    const pending = pendingAuditEvents(meta);
    assert.deepEqual(
      pending.map((p) => p.event),
      made,
    );
    await meta.delete(pending[0].key);
    assert.equal(pendingAuditEvents(meta).length, 2);
    await meta.close();
  });
});

describe('audit stream messages', () => {
  it('carry the event as JSON with its name as routing key and type, id, time and actor headers', () => {
    const event: AuditEvent = {
      id: '3f1c4c1e-0000-4000-8000-000000000000',
      at: '2024-05-01T12:00:00.500Z',
      by: 'admin',
      from: '10.0.0.7',
      event: 'permission.set',
      user: 'app',
      vhost: 'shop',
      details: { configure: '', write: '.*', read: '.*' },
    };
    const message = auditMessage(event);
    assert.equal(message.routingKey, 'permission.set');
    assert.equal(message.persistent, true);
    assert.deepEqual(JSON.parse(message.body.toString()), event);
    const props = decodeBasicProperties(message.properties, 0, message.properties.length);
    assert.equal(props.contentType, 'application/json');
    assert.equal(props.messageId, event.id);
    assert.equal(props.type, 'permission.set');
    assert.equal(props.appId, 'eventter');
    assert.equal(props.timestamp, Date.UTC(2024, 4, 1, 12) / 1000);
    assert.deepEqual(props.headers, { event: 'permission.set', by: 'admin', from: '10.0.0.7' });
  });
});

describe('Administration', () => {
  async function openAdmin() {
    const meta = await openMeta();
    const sink = new MemorySink();
    const admin = new Administration({
      users: UserRegistry.openStored(meta),
      vhosts: new StoredVhosts(meta),
      audit: new AuditTrail(sink),
    });
    await meta.put('vhost\u0000shop', { name: 'shop' });
    return { meta, sink, admin };
  }

  it('records one event per change, never a password or its hash', async () => {
    const { meta, sink, admin } = await openAdmin();
    assert.equal(
      await admin.putUser(actor, 'app', { password: 'pa55word', tags: ['management'] }),
      'created',
    );
    await admin.putUser(actor, 'app', { passwordHash: '' });
    await admin.setPermissions(actor, 'app', 'shop', { configure: '', write: '.*', read: '.*' });
    await admin.setUserLimit(actor, 'app', 'max-connections', 5);
    await admin.clearUserLimit(actor, 'app', 'max-channels'); // not set: no change, no event
    await admin.putVhost(actor, 'shop', { description: 'orders' });
    await admin.setVhostLimit(actor, 'shop', 'max-queues', 10);
    await admin.deleteUser(actor, 'app');
    assert.deepEqual(
      sink.events.map((e) => [e.event, e.user ?? e.vhost, e.details]),
      [
        ['user.created', 'app', { tags: ['management'], password: 'set' }],
        ['user.updated', 'app', { tags: ['management'], password: 'removed' }],
        ['permission.set', 'app', { configure: '', write: '.*', read: '.*' }],
        ['user-limit.set', 'app', { value: 5 }],
        ['vhost.updated', 'shop', { description: 'orders', tags: [] }],
        ['vhost-limit.set', 'shop', { value: 10 }],
        ['user.deleted', 'app', undefined],
      ],
    );
    assert.ok(!JSON.stringify(sink.events).includes('pa55word'));
    assert.ok(!JSON.stringify(sink.events).includes('scrypt'));
    await meta.close();
  });

  it('refuses unknown users and vhosts, unknown limits and bad values, without an event', async () => {
    const { meta, sink, admin } = await openAdmin();
    await admin.putUser(actor, 'app', { password: 'p' });
    sink.events.length = 0;
    const patterns = { configure: '.*', write: '.*', read: '.*' };
    await assert.rejects(admin.setPermissions(actor, 'ghost', 'shop', patterns), UserAdminError);
    await assert.rejects(
      admin.setPermissions(actor, 'app', 'ghost', patterns),
      (err: unknown) => err instanceof AdminError && err.kind === 'not_found',
    );
    await assert.rejects(admin.setUserLimit(actor, 'app', 'max-queues', 1), /unknown user limit/);
    await assert.rejects(admin.setVhostLimit(actor, 'shop', 'max-connections', 1.5), /must be an integer/);
    await assert.rejects(admin.putVhost(actor, 'x', { description: 'd'.repeat(1025) }), /at most 1024/);
    await assert.rejects(admin.putVhost(actor, 'x', { tags: ['a b'] }), /bad tag/);
    assert.deepEqual(sink.events, []);
    await meta.close();
  });

  it("grants the creator of a vhost full permissions when asked (RabbitMQ's HTTP API)", async () => {
    const { meta, sink, admin } = await openAdmin();
    await admin.putUser(actor, 'admin', { password: 'p', tags: ['administrator'] });
    await admin.putVhost(actor, 'new', {}, 'admin');
    await admin.putVhost(actor, 'new', {}, 'admin'); // an update grants nothing
    assert.deepEqual(admin.users.listPermissions({ vhost: 'new' }), [
      { user: 'admin', vhost: 'new', configure: '.*', write: '.*', read: '.*' },
    ]);
    assert.deepEqual(
      sink.events.map((e) => e.event),
      ['user.created', 'vhost.created', 'permission.set', 'vhost.updated'],
    );
    await meta.close();
  });
});

describe("RabbitMQ's password hash fields", () => {
  it('map to the stored forms', () => {
    const b64 = Buffer.alloc(36, 1).toString('base64');
    assert.equal(storedHashFromRabbit(b64), `rabbit-sha256:${b64}`);
    assert.equal(storedHashFromRabbit(b64, 'rabbit_password_hashing_sha512'), `rabbit-sha512:${b64}`);
    assert.equal(storedHashFromRabbit(b64, 'rabbit_password_hashing_md5'), `rabbit-md5:${b64}`);
    assert.equal(storedHashFromRabbit('scrypt:abc:def'), 'scrypt:abc:def');
    assert.equal(
      storedHashFromRabbit('scrypt:abc:def', 'eventter_password_hashing_scrypt'),
      'scrypt:abc:def',
    );
    assert.equal(storedHashFromRabbit(''), '');
    assert.throws(() => storedHashFromRabbit(b64, 'bcrypt'), /unknown hashing_algorithm "bcrypt"/);
    assert.throws(() => storedHashFromRabbit('not base64!'), /not base64/);
  });
});
