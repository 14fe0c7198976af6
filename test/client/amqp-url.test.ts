import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAmqpUrl } from '../../src/client/amqp-url.js';
import { AmqpClientError } from '../../src/client/client-error.js';

describe('parseAmqpUrl', () => {
  it('reads user, password, host, port and vhost', () => {
    const e = parseAmqpUrl('amqp://alice:s%40cret@broker.example:5673/%2Fprod');
    assert.equal(e.username, 'alice');
    assert.equal(e.password, 's@cret');
    assert.equal(e.host, 'broker.example');
    assert.equal(e.port, 5673);
    assert.equal(e.vhost, '/prod');
  });

  it('defaults to guest, port 5672 and vhost /', () => {
    const e = parseAmqpUrl('amqp://localhost');
    assert.deepEqual([e.username, e.password, e.port, e.vhost], ['guest', 'guest', 5672, '/']);
  });

  it('reads tuning parameters from the query', () => {
    const e = parseAmqpUrl('amqp://h/?heartbeat=10&frame_max=8192&channel_max=16');
    assert.deepEqual([e.heartbeat, e.frameMax, e.channelMax], [10, 8192, 16]);
  });

  it('rejects other schemes, TLS and out-of-range parameters with a typed error', () => {
    for (const bad of [
      'http://h',
      'amqps://h',
      'not a url',
      'amqp://h/?frame_max=12',
      'amqp://h/?heartbeat=-1',
    ]) {
      assert.throws(
        () => parseAmqpUrl(bad),
        (err) => err instanceof AmqpClientError && err.kind === 'url',
        bad,
      );
    }
  });
});
