import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runBenchCommand } from '../../src/bench/bench-command.js';
import type { BenchReport } from '../../src/bench/bench-runner.js';
import { type LocalBroker, startLocalBroker } from '../../src/bench/local-broker.js';

let broker: LocalBroker;

function capture(): { io: Parameters<typeof runBenchCommand>[1] & object; out: () => string } {
  let out = '';
  return {
    io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } },
    out: () => out,
  };
}

const REQUIRED = [
  'connections',
  'openMs',
  'openConnectionsPerSec',
  'heartbeatSeconds',
  'roundTrips',
  'roundTripP50Ms',
  'roundTripP99Ms',
  'roundTripP999Ms',
  'brokerRssBeforeMiB',
  'brokerRssOpenMiB',
  'closeMs',
];

describe('eventter bench --scenarios connections', () => {
  before(async () => {
    broker = await startLocalBroker();
  });

  after(async () => {
    await broker.stop();
  });

  it('holds 50 connections with heartbeats and reports every figure as a positive number', async () => {
    const c = capture();
    const code = await runBenchCommand(
      [
        '--url',
        broker.url,
        '--scenarios',
        'connections',
        '--connections',
        '50',
        '--messages',
        '300',
        '--broker-pid',
        String(broker.pid),
        '--json',
      ],
      c.io,
    );
    const report = JSON.parse(c.out()) as BenchReport;
    const [s] = report.scenarios;
    assert.equal(code, 0, s.error);
    assert.equal(s.id, 'connections');
    for (const name of REQUIRED) assert.ok(name in s.figures, `lacks ${name}`);
    for (const [name, value] of Object.entries(s.figures)) {
      assert.ok(Number.isFinite(value) && value > 0, `${name} = ${value}`);
    }
    assert.equal(s.figures.connections, 50);
    assert.equal(s.figures.roundTrips, 300);
    assert.equal(s.figures.heartbeatSeconds, 10, 'the client asks for 10 s heartbeats');
    assert.ok(s.figures.roundTripP50Ms <= s.figures.roundTripP99Ms);
    assert.ok(s.figures.roundTripP99Ms <= s.figures.roundTripP999Ms);
    assert.equal(s.figures.connectionsLost, undefined, 'no connection dropped');
  });

  it('runs only when named, and rejects a bad --connections', async () => {
    const help = capture();
    assert.equal(await runBenchCommand(['--help'], help.io), 0);
    assert.match(help.out(), /connections .*\(only when named\)/);
    assert.equal(await runBenchCommand(['--connections', '0'], capture().io), 2);
  });
});
