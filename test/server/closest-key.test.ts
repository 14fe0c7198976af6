import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closestKey } from '../../src/server/closest-key.js';

const KEYS = ['dataDir', 'hosts', 'amqpPort', 'httpPort', 'limits', 'users', 'vhosts', 'fsync'];

describe('closestKey', () => {
  it('finds a dropped, added, swapped or changed letter', () => {
    assert.equal(closestKey('limts', KEYS), 'limits');
    assert.equal(closestKey('limitss', KEYS), 'limits');
    assert.equal(closestKey('lmiits', KEYS), 'limits');
    assert.equal(closestKey('hostz', KEYS), 'hosts');
  });

  it('ignores case and the separators of flag and environment spellings', () => {
    assert.equal(closestKey('datadir', KEYS), 'dataDir');
    assert.equal(closestKey('data-dir', KEYS), 'dataDir');
    assert.equal(closestKey('AMQP_PORT', KEYS), 'amqpPort');
  });

  it('prefers the nearest key and suggests nothing for an unrelated word', () => {
    assert.equal(closestKey('httpport', KEYS), 'httpPort');
    assert.equal(closestKey('colour', KEYS), undefined);
    assert.equal(closestKey('x', KEYS), undefined);
  });
});
