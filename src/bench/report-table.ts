/** The human-readable summary: one block per scenario, one aligned line per figure. */
import type { BenchReport } from './bench-runner.js';

const UNIT_SUFFIXES: [string, string][] = [
  ['MsgPerSec', 'msg/s'],
  ['MiBPerSec', 'MiB/s'],
  ['Bytes', 'B'],
  ['MiB', 'MiB'],
  ['Ms', 'ms'],
];

/** "concurrentLatencyP999Ms" -> { label: "concurrent latency p99.9", unit: "ms" }. */
export function describeFigure(key: string): { label: string; unit: string } {
  let name = key;
  let unit = '';
  for (const [suffix, u] of UNIT_SUFFIXES) {
    if (name.endsWith(suffix)) {
      name = name.slice(0, -suffix.length);
      unit = u;
      break;
    }
  }
  const words = name
    .replace(/^kb4/, '4KB ')
    .replace(/^mb1/, '1MB ')
    .replace(/([a-z])([A-Z0-9])/g, '$1 $2')
    .toLowerCase()
    .replace(/ ?p999$/, ' p99.9')
    .replace(/ ?p99$/, ' p99')
    .replace(/ ?p50$/, ' p50')
    .replace(/(\d+) ?pct/, '$1 %')
    .replace(/^4kb/, '4 KB')
    .replace(/^1mb/, '1 MB');
  return { label: words.trim() === '' ? unit : words.trim(), unit };
}

export function formatValue(value: number, unit: string): string {
  if (unit === 'ms') return value < 10 ? value.toFixed(2) : value.toFixed(1);
  if (unit === 'MiB' || unit === 'MiB/s') return value.toFixed(1);
  return Math.round(value).toLocaleString('en-US');
}

export function renderReportTable(report: BenchReport): string {
  const lines: string[] = [];
  const broker = [report.broker.product, report.broker.version].filter((x) => x !== undefined).join(' ');
  lines.push(`eventter bench: ${report.url}${broker === '' ? '' : ` (${broker})`}  ${report.startedAt}`);
  const rows: { scenario: string; label: string; value: string; unit: string }[] = [];
  for (const s of report.scenarios) {
    if (!s.ok) {
      rows.push({ scenario: s.id, label: 'FAILED', value: s.error ?? '', unit: '' });
      continue;
    }
    let first = true;
    for (const [key, value] of Object.entries(s.figures)) {
      const { label, unit } = describeFigure(key);
      rows.push({ scenario: first ? s.id : '', label, value: formatValue(value, unit), unit });
      first = false;
    }
  }
  const w0 = Math.max(8, ...rows.map((r) => r.scenario.length));
  const w1 = Math.max(6, ...rows.map((r) => r.label.length));
  const w2 = Math.max(5, ...rows.map((r) => (r.label === 'FAILED' ? 0 : r.value.length)));
  lines.push(`${'scenario'.padEnd(w0)}  ${'figure'.padEnd(w1)}  ${'value'.padStart(w2)}`);
  lines.push(`${'-'.repeat(w0)}  ${'-'.repeat(w1)}  ${'-'.repeat(w2)}`);
  for (const r of rows) {
    if (r.scenario !== '' && lines.length > 3) lines.push('');
    const value = r.label === 'FAILED' ? r.value : `${r.value.padStart(w2)} ${r.unit}`;
    lines.push(`${r.scenario.padEnd(w0)}  ${r.label.padEnd(w1)}  ${value}`.trimEnd());
  }
  for (const s of report.scenarios) for (const n of s.notes) lines.push(`note (${s.id}): ${n}`);
  return `${lines.join('\n')}\n`;
}
