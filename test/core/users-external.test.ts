import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserRegistry } from '../../src/core/users.js';

describe('UserRegistry.authenticateExternal (SASL EXTERNAL: the certificate names the user)', () => {
  const users = new UserRegistry([
    { name: 'alice', password: 'a', vhosts: ['/', 'billing'], loopbackOnly: false },
    { name: 'local', password: 'l', vhosts: ['/'], loopbackOnly: true },
  ]);

  it('gives the named user with its permissions, without a password', async () => {
    const user = await users.authenticateExternal('alice', '192.0.2.7');
    assert.equal(user?.name, 'alice');
    assert.ok(user?.permissions('/') && user.permissions('billing'));
    assert.equal(user?.permissions('other'), undefined);
  });

  it('refuses an unknown name', async () => {
    assert.equal(await users.authenticateExternal('mallory', '127.0.0.1'), undefined);
  });

  it('keeps loopback-only users to loopback addresses', async () => {
    assert.equal((await users.authenticateExternal('local', '127.0.0.1'))?.name, 'local');
    assert.equal((await users.authenticateExternal('local', '::ffff:127.0.0.1'))?.name, 'local');
    assert.equal(await users.authenticateExternal('local', '192.0.2.7'), undefined);
    assert.equal(await users.authenticateExternal('local', undefined), undefined);
  });
});
