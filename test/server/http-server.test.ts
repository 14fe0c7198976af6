import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type HealthReport, startHttpServer } from '../../src/server/http-server.js';
import { createLogger } from '../../src/server/logger.js';

const logger = createLogger('silent');

describe('HTTP server', () => {
  it('answers GET /health with the health report as JSON', async () => {
    const report: HealthReport = { status: 'ok', uptimeSeconds: 7, connections: 3 };
    const http = await startHttpServer({ hosts: ['127.0.0.1'], port: 0, logger, health: () => report });
    try {
      const { port } = http.addresses[0];
      assert.ok(port > 0);
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /application\/json/);
      assert.deepEqual(await response.json(), report);
    } finally {
      await http.close();
    }
  });

  it('answers 503 while stopping and when the health check fails', async () => {
    let mode: 'stopping' | 'broken' = 'stopping';
    const http = await startHttpServer({
      hosts: ['127.0.0.1'],
      port: 0,
      logger,
      health: async () => {
        if (mode === 'broken') throw new Error('stats unavailable');
        return { status: 'stopping', uptimeSeconds: 1 };
      },
    });
    try {
      const url = `http://127.0.0.1:${http.addresses[0].port}/health`;
      const stopping = await fetch(url);
      assert.equal(stopping.status, 503);
      assert.deepEqual(await stopping.json(), { status: 'stopping', uptimeSeconds: 1 });
      mode = 'broken';
      const broken = await fetch(url);
      assert.equal(broken.status, 503);
      assert.deepEqual(await broken.json(), { status: 'error' });
    } finally {
      await http.close();
    }
  });

  it('answers unknown routes with a JSON 404', async () => {
    const http = await startHttpServer({
      hosts: ['127.0.0.1'],
      port: 0,
      logger,
      health: () => ({ status: 'ok', uptimeSeconds: 0 }),
    });
    try {
      const response = await fetch(`http://127.0.0.1:${http.addresses[0].port}/nope`, { method: 'POST' });
      assert.equal(response.status, 404);
      assert.deepEqual(await response.json(), { error: 'not_found', message: 'no route for POST /nope' });
    } finally {
      await http.close();
    }
  });

  it('stops listening on close, even with a keep-alive connection open', async () => {
    const http = await startHttpServer({
      hosts: ['127.0.0.1'],
      port: 0,
      logger,
      health: () => ({ status: 'ok', uptimeSeconds: 0 }),
    });
    const url = `http://127.0.0.1:${http.addresses[0].port}/health`;
    assert.equal((await fetch(url, { keepalive: true })).status, 200);
    await http.close();
    await assert.rejects(fetch(url));
  });
});
