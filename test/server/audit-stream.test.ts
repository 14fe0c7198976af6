import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import type { AuditEvent } from '../../src/core/audit.js';
import { AUDIT_STREAM, AUDIT_VHOST } from '../../src/core/audit-stream.js';
import { type AdminApi, adminApi, logRecords } from '../helpers/admin-http.js';
import { type BrokerUnderTest, isExternalBroker, startBroker } from '../helpers/broker-under-test.js';

const SKIP = isExternalBroker() ? "the audit trail is EventterMQ's own" : false;

let broker: BrokerUnderTest;
let api: AdminApi;
const lines: string[] = [];

/** Reads the audit stream from its first event as `user` until `count` events arrived (or 20 s passed). */
async function readAudit(user: string, password: string, count: number): Promise<AuditEvent[]> {
  const conn = await amqp.connect(
    `amqp://${user}:${password}@127.0.0.1:${broker.amqpPort}/${encodeURIComponent(AUDIT_VHOST)}`,
  );
  try {
    const channel = await conn.createChannel();
    await channel.prefetch(100);
    const events: AuditEvent[] = [];
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${events.length} of ${count} events`)), 20_000);
      void channel.consume(
        AUDIT_STREAM,
        (message) => {
          if (!message) return;
          const event = JSON.parse(message.content.toString()) as AuditEvent;
          assert.equal(message.fields.routingKey, event.event);
          assert.equal(message.properties.messageId, event.id);
          assert.equal(message.properties.contentType, 'application/json');
          events.push(event);
          channel.ack(message);
          if (events.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        },
        { arguments: { 'x-stream-offset': 'first' } },
      );
    });
    return events;
  } finally {
    await conn.close().catch(() => {});
  }
}

before(async () => {
  if (SKIP) return;
  broker = await startBroker({ onLogLine: (line) => lines.push(line) });
  api = adminApi(broker.httpPort);
});
after(async () => {
  if (SKIP) return;
  await broker.stop();
  await rm(broker.dataDir, { recursive: true, force: true });
});

describe('the audit of administration', { skip: SKIP }, () => {
  it('logs every change and appends it to the audit stream, readable over AMQP with a read grant', async () => {
    assert.equal((await api('PUT', '/api/users/app', { password: 'app-pw', tags: '' })).status, 201);
    assert.equal((await api('PUT', '/api/vhosts/orders', { description: 'orders' })).status, 201);
    const perms = { configure: '^app\\.', write: '.*', read: '.*' };
    assert.equal((await api('PUT', '/api/permissions/orders/app', perms)).status, 201);
    assert.equal((await api('PUT', '/api/vhost-limits/orders/max-queues', { value: 100 })).status, 204);
    assert.equal((await api('DELETE', '/api/users/app')).status, 204);
    await api('PUT', '/api/users/auditor', { password: 'aud', tags: '' });
    await api('PUT', `/api/permissions/${encodeURIComponent(AUDIT_VHOST)}/auditor`, {
      configure: '',
      write: '',
      read: '.*',
    });

    const expected = [
      ['user.created', 'app', undefined],
      ['vhost.created', undefined, 'orders'],
      ['permission.set', 'guest', 'orders'], // the creator's grant on the new vhost
      ['permission.set', 'app', 'orders'],
      ['vhost-limit.set', undefined, 'orders'],
      ['user.deleted', 'app', undefined],
      ['user.created', 'auditor', undefined],
      ['permission.set', 'auditor', AUDIT_VHOST],
    ];
    const shape = (e: { event?: unknown; user?: unknown; vhost?: unknown }) => [e.event, e.user, e.vhost];

    const logged = logRecords(lines).filter((r) => r.audit === true);
    assert.deepEqual(logged.map(shape), expected);
    for (const record of logged) {
      assert.equal(record.level, 'info');
      assert.equal(record.msg, 'audit');
      assert.equal(record.by, 'guest');
      assert.equal(record.from, '127.0.0.1');
    }
    assert.ok(!lines.join('\n').includes('app-pw'), 'no password in the log');

    const events = await readAudit('auditor', 'aud', expected.length);
    assert.deepEqual(events.map(shape), expected);
    assert.deepEqual(
      events.map((e) => e.id),
      logged.map((r) => r.id),
    );
    assert.deepEqual(events[3].details, perms);
  });

  it('records a definitions import that changed something, once, with its counts', async () => {
    const definitions = {
      vhosts: [{ name: 'imported' }],
      queues: [{ name: 'jobs', vhost: 'imported', durable: true, auto_delete: false, arguments: {} }],
    };
    const importedEvents = () =>
      logRecords(lines).filter((r) => r.audit === true && r.event === 'definitions.imported');
    assert.equal((await api('POST', '/api/definitions', definitions)).status, 204);
    assert.equal((await api('POST', '/api/definitions', definitions)).status, 204); // unchanged: no event
    const events = importedEvents();
    assert.equal(events.length, 1);
    assert.equal(events[0].by, 'guest');
    assert.equal(events[0].from, '127.0.0.1');
    const counts = (events[0].details as { counts: Record<string, { created: number }> }).counts;
    assert.equal(counts.vhosts.created, 1);
    assert.equal(counts.queues.created, 1);
  });

  it('is out of reach without a grant on its vhost', async () => {
    await api('PUT', '/api/users/nosy', { password: 'n', tags: '' });
    await api('PUT', '/api/permissions/%2F/nosy', { configure: '.*', write: '.*', read: '.*' });
    // The same login opens '/': the refusal is the audit vhost's, not a bad password.
    const root = await amqp.connect(`amqp://nosy:n@127.0.0.1:${broker.amqpPort}/%2F`);
    await root.close();
    await assert.rejects(readAudit('nosy', 'n', 1), /ConnectionClose|NOT_ALLOWED|ACCESS_REFUSED/);
  });

  it('comes back when its vhost is deleted, with the deletion as its first event', async () => {
    const audit = `/api/vhosts/${encodeURIComponent(AUDIT_VHOST)}`;
    assert.equal((await api('DELETE', audit)).status, 204);
    assert.equal((await api('GET', audit)).status, 200);
    await api('PUT', `/api/permissions/${encodeURIComponent(AUDIT_VHOST)}/auditor`, {
      configure: '',
      write: '',
      read: '.*',
    });
    const events = await readAudit('auditor', 'aud', 2);
    assert.deepEqual(
      events.map((e) => [e.event, e.vhost]),
      [
        ['vhost.deleted', AUDIT_VHOST],
        ['permission.set', AUDIT_VHOST],
      ],
    );
  });
});
