import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionRegistry, type TrackedConnection } from '../../src/core/connection-registry.js';
import type { VhostLimits } from '../../src/core/vhost-info.js';
import { fakePrincipal } from '../helpers/fake-principal.js';

/** Connection and channel tracking, RabbitMQ's vhost and user limits, closing a deleted vhost's clients. */

const FULL = { configure: '.*', write: '.*', read: '.*' };

function setup(vhosts: Record<string, VhostLimits>) {
  const registry = new ConnectionRegistry((name) => vhosts[name]);
  const closed: string[] = [];
  const conn = (user: string, vhost = '/'): TrackedConnection => ({
    user,
    vhost,
    forceClose: (reason) => closed.push(`${user}@${vhost}: ${reason}`),
  });
  return { registry, closed, conn };
}

describe('connection registry', () => {
  it('checks the vhost, its connection limit, the user’s limit, then access, in that order', () => {
    const { registry, conn } = setup({ '/': { 'max-connections': 1 }, other: {} });
    const limited = fakePrincipal('u', FULL, {}, { 'max-connections': 1 });
    const noAccess = fakePrincipal('n', undefined, {}, { 'max-connections': 0 });
    assert.throws(() => registry.admit(conn('u', 'nope'), limited), /NOT_ALLOWED - vhost nope not found$/);
    registry.admit(conn('u'), limited);
    assert.throws(
      () => registry.admit(conn('n'), noAccess),
      /NOT_ALLOWED - access to vhost '\/' refused for user 'n': connection limit \(1\) is reached$/,
    );
    assert.throws(
      () => registry.admit(conn('n', 'other'), noAccess),
      /NOT_ALLOWED - connection refused for user 'n': user connection limit \(0\) is reached$/,
    );
    const unlimited = fakePrincipal('n', undefined);
    assert.throws(
      () => registry.admit(conn('n', 'other'), unlimited),
      /NOT_ALLOWED - access to vhost 'other' refused for user 'n'$/,
    );
    assert.equal(registry.connectionsIn('/'), 1);
  });

  it('counts a user’s connections over all vhosts and frees them on release (idempotent)', () => {
    const { registry, conn } = setup({ a: {}, b: {} });
    const p = { ...fakePrincipal('u', FULL), permissions: () => new (class {})() as never };
    const user = fakePrincipal('u', FULL, {}, { 'max-connections': 2 });
    const twoVhosts = { ...user, permissions: p.permissions };
    const first = conn('u', 'a');
    registry.admit(first, twoVhosts);
    registry.admit(conn('u', 'b'), twoVhosts);
    assert.throws(() => registry.admit(conn('u', 'a'), twoVhosts), /user connection limit \(2\)/);
    registry.release(first);
    registry.release(first);
    assert.equal(registry.connectionsOf('u'), 1);
    registry.admit(conn('u', 'a'), twoVhosts);
  });

  it('a negative limit is no limit', () => {
    const { registry, conn } = setup({ '/': { 'max-connections': -1 } });
    const p = fakePrincipal('u', FULL, {}, { 'max-connections': -5 });
    for (let i = 0; i < 5; i++) registry.admit(conn('u'), p);
    assert.equal(registry.connectionsIn('/'), 5);
  });

  it('counts channels per user across connections against max-channels', () => {
    const { registry } = setup({});
    const p = fakePrincipal('u', FULL, {}, { 'max-channels': 2 });
    registry.openChannel(p);
    registry.openChannel(p);
    assert.throws(
      () => registry.openChannel(p),
      /NOT_ALLOWED - number of channels opened for user 'u' has reached the maximum allowed user limit of \(2\)$/,
    );
    registry.closeChannel('u');
    registry.openChannel(p);
    assert.equal(registry.channelsOf('u'), 2);
    registry.openChannel(fakePrincipal('other', FULL));
  });

  it('closes every connection of a deleted vhost, and only those', () => {
    const { registry, closed, conn } = setup({ '/': {}, doomed: {} });
    const p = { ...fakePrincipal('u', FULL), permissions: () => ({}) as never };
    registry.admit(conn('u', 'doomed'), p);
    registry.admit(conn('v', 'doomed'), p);
    registry.admit(conn('u', '/'), p);
    registry.closeVhost('doomed');
    assert.deepEqual(closed, ["u@doomed: vhost 'doomed' is deleted", "v@doomed: vhost 'doomed' is deleted"]);
    assert.equal(registry.connectionsIn('doomed'), 0);
    assert.equal(registry.connectionsOf('u'), 1);
  });

  it('closes every connection of a deleted user', () => {
    const { registry, closed, conn } = setup({ '/': {}, other: {} });
    const p = { ...fakePrincipal('u', FULL), permissions: () => ({}) as never };
    registry.admit(conn('u', '/'), p);
    registry.admit(conn('u', 'other'), p);
    registry.admit(conn('v', '/'), p);
    registry.closeUser('u');
    assert.deepEqual(closed, ["u@/: user 'u' is deleted", "u@other: user 'u' is deleted"]);
    assert.equal(registry.connectionsIn('/'), 1);
  });
});
