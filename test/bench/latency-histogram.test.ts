import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LatencyHistogram } from '../../src/bench/latency-histogram.js';

describe('LatencyHistogram', () => {
  it('reports quantiles within 2 % of the exact values', () => {
    const h = new LatencyHistogram();
    const values: number[] = [];
    for (let i = 1; i <= 10_000; i++) {
      const ms = (i * i) / 1000; // 0.001 ms .. 100 s, spread over many powers of two
      values.push(ms);
      h.recordMs(ms);
    }
    for (const q of [0.5, 0.9, 0.99, 0.999]) {
      const exact = values[Math.ceil(q * values.length) - 1];
      const got = h.quantileMs(q);
      assert.ok(Math.abs(got - exact) / exact < 0.02, `q=${q}: ${got} vs ${exact}`);
    }
    assert.equal(h.count, 10_000);
    assert.equal(h.maxMs, 100_000);
  });

  it('is exact for small values, 0 when empty, and clamps nonsense', () => {
    const h = new LatencyHistogram();
    assert.equal(h.quantileMs(0.5), 0);
    h.recordMs(0.05);
    h.recordMs(-3);
    h.recordMs(Number.NaN);
    assert.equal(h.quantileMs(1), 0.05);
    h.recordMs(1e12);
    assert.ok(h.quantileMs(1) > 4e6);
  });
});
