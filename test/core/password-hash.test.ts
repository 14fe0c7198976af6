import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashPassword, passwordHashProblem } from '../../src/core/password-hash.js';
import { UserRegistry } from '../../src/core/users.js';

function registryWith(passwordHash: string): UserRegistry {
  return new UserRegistry([{ name: 'app', passwordHash, vhosts: ['/'], loopbackOnly: false }]);
}

describe('password hashes', () => {
  it('makes hashes the core user registry accepts for the right password only', async () => {
    const hash = await hashPassword('correct horse');
    assert.equal(passwordHashProblem(hash), undefined);
    const users = registryWith(hash);
    assert.equal((await users.authenticate('app', 'correct horse', '10.0.0.1'))?.name, 'app');
    assert.equal(await users.authenticate('app', 'correct hors', '10.0.0.1'), undefined);
    assert.equal(await users.authenticate('app', '', '10.0.0.1'), undefined);
  });

  it('salts every hash', async () => {
    assert.notEqual(await hashPassword('same'), await hashPassword('same'));
  });

  it('explains malformed or out-of-bounds hashes', () => {
    const salt = Buffer.alloc(16, 1).toString('base64');
    const key = Buffer.alloc(32, 2).toString('base64');
    assert.equal(passwordHashProblem(`scrypt:${salt}:${key}`), undefined);
    const cases: Array<[string, RegExp]> = [
      ['plain', /must look like scrypt:/],
      [`sha256:${'ab'.repeat(32)}`, /must look like scrypt:/],
      [`scrypt:${salt}`, /must look like scrypt:/],
      [`scrypt:AAAA:${key}`, /salt must decode/],
      [`scrypt:${salt}:AAAA`, /key must decode/],
      [`scrypt:${salt}:${Buffer.alloc(200).toString('base64')}`, /key must decode/],
    ];
    for (const [text, reason] of cases) assert.match(passwordHashProblem(text) ?? '', reason, text);
  });
});
