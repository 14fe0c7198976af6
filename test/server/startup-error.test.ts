import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainDataDirFailure, explainListenFailure, StartupError } from '../../src/server/startup-error.js';
import { DataDirInUseError } from '../../src/store/data-dir-lock.js';

function systemError(code: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${code}: something`), { code, ...extra });
}

describe('start-up error explanations', () => {
  it('names the address, the cause and the flag for listen failures', () => {
    const inUse = explainListenFailure(
      'AMQP',
      '--amqp-port',
      systemError('EADDRINUSE', { address: '::1', port: 5672 }),
    );
    assert.ok(inUse instanceof StartupError);
    assert.equal(
      inUse.message,
      'cannot listen for AMQP on [::1]:5672: the port is already in use by another process (EADDRINUSE); ' +
        'stop that process or choose another port with --amqp-port',
    );
    const privileged = explainListenFailure(
      'HTTP',
      '--http-port',
      systemError('EACCES', { address: '0.0.0.0', port: 80 }),
    );
    assert.match(
      privileged?.message ?? '',
      /0\.0\.0\.0:80: permission denied \(EACCES\); ports below 1024 need root/,
    );
  });

  it('passes the lock refusal through and explains other system errors on the data directory', () => {
    const inUse = explainDataDirFailure('/d', new DataDirInUseError('/d', 42));
    assert.match(inUse?.message ?? '', /^data directory \/d is in use by process 42/);
    const denied = explainDataDirFailure('/d', systemError('EACCES', { path: '/d/meta/journal' }));
    assert.equal(
      denied?.message,
      'cannot use data directory /d: permission denied (/d/meta/journal) (EACCES)',
    );
    assert.equal(denied?.code, 'EACCES');
  });

  it('leaves errors without a system error code alone: those are bugs and keep their stack trace', () => {
    assert.equal(explainDataDirFailure('/d', new TypeError('x is undefined')), undefined);
    assert.equal(explainListenFailure('AMQP', '--amqp-port', new Error('plain')), undefined);
  });
});
