import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeFigure } from '../../src/bench/report-table.js';

describe('describeFigure', () => {
  it('turns figure names into labels and units', () => {
    assert.deepEqual(describeFigure('deliverMsgPerSec'), { label: 'deliver', unit: 'msg/s' });
    assert.deepEqual(describeFigure('concurrentLatencyP999Ms'), {
      label: 'concurrent latency p99.9',
      unit: 'ms',
    });
    assert.deepEqual(describeFigure('kb4MiBPerSec'), { label: '4 KB', unit: 'MiB/s' });
    assert.deepEqual(describeFigure('fillFirst20PctMsgPerSec'), { label: 'fill first 20 %', unit: 'msg/s' });
    assert.deepEqual(describeFigure('brokerPeakRssMiB'), { label: 'broker peak rss', unit: 'MiB' });
    assert.deepEqual(describeFigure('messages'), { label: 'messages', unit: '' });
  });
});
