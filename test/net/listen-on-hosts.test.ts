import assert from 'node:assert/strict';
import { connect, createServer, isIPv6, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { closeServers, listenOnHosts } from '../../src/net/listen-on-hosts.js';

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function ipv6Available(): Promise<boolean> {
  const probe = createServer();
  return new Promise((resolve) => {
    probe.once('error', () => resolve(false));
    probe.listen({ host: '::1', port: 0 }, () => probe.close(() => resolve(true)));
  });
}

describe('listenOnHosts', () => {
  it('binds the IPv4 and IPv6 wildcards on one shared port when given port 0', async (t) => {
    if (!(await ipv6Available())) return t.skip('no IPv6 on this machine');
    const { servers, addresses } = await listenOnHosts(
      () => createServer((s) => s.end()),
      ['0.0.0.0', '::'],
      0,
    );
    try {
      assert.equal(servers.length, 2);
      assert.deepEqual(
        addresses.map((a) => a.host),
        ['0.0.0.0', '::'],
      );
      const port = addresses[0].port;
      assert.ok(port > 0);
      assert.equal(addresses[1].port, port, 'both families share the chosen port');
      assert.equal(await canConnect('127.0.0.1', port), true);
      assert.equal(await canConnect('::1', port), true);
    } finally {
      await closeServers(servers);
    }
  });

  it('binds a lone IPv6 address without forcing IPv6-only', async (t) => {
    if (!(await ipv6Available())) return t.skip('no IPv6 on this machine');
    const { servers, addresses } = await listenOnHosts(() => createServer(), ['::1'], 0);
    try {
      assert.ok(isIPv6(addresses[0].host));
    } finally {
      await closeServers(servers);
    }
  });

  it('fails with the bind error and closes the listeners it already opened', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.2', port: 0 }, resolve));
    const port = (blocker.address() as { port: number }).port;
    const created: Server[] = [];
    try {
      await assert.rejects(
        listenOnHosts(
          () => {
            const server = createServer();
            created.push(server);
            return server;
          },
          ['127.0.0.1', '127.0.0.2'],
          port,
        ),
        { code: 'EADDRINUSE' },
      );
      assert.equal(created.length, 2);
      assert.equal(created[0].listening, false, 'the first listener was closed again');
    } finally {
      await closeServers([blocker]);
    }
  });
});
