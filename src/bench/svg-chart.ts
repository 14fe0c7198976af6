/**
 * Rate-over-time chart of a bench run as a standalone SVG (no dependencies): one panel per scenario,
 * one line per measured counter, x = seconds since the scenario started, y = msg/s.
 */
import type { BenchReport } from './bench-runner.js';
import { formatRate } from './phase-meter.js';

const WIDTH = 900;
const PANEL_HEIGHT = 240;
const MARGIN = { left: 70, right: 20, top: 34, bottom: 34 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const Y_TICKS = 4;

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const NICE_STEPS = [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10];

/** A round axis maximum (a few steps per power of ten) at or above v. */
function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of NICE_STEPS) if (m * p >= v) return m * p;
  return 10 * p;
}

export function renderRateChart(report: BenchReport): string {
  const panels = report.scenarios.filter((s) => s.series.some((x) => x.points.length > 0));
  const height = Math.max(1, panels.length) * PANEL_HEIGHT + 30;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
  );
  out.push(`<rect width="100%" height="100%" fill="white"/>`);
  out.push(
    `<text x="10" y="18" font-size="14" font-weight="bold">${escapeXml(`eventter bench: ${report.url}`)}</text>`,
  );
  panels.forEach((s, i) => {
    const top = 30 + i * PANEL_HEIGHT;
    const x0 = MARGIN.left;
    const x1 = WIDTH - MARGIN.right;
    const y0 = top + PANEL_HEIGHT - MARGIN.bottom;
    const y1 = top + MARGIN.top;
    let maxT = 0;
    let maxR = 0;
    for (const line of s.series) {
      for (const [t, r] of line.points) {
        if (t > maxT) maxT = t;
        if (r > maxR) maxR = r;
      }
    }
    const tMax = niceCeil(maxT);
    const rMax = niceCeil(maxR);
    const sx = (t: number): number => x0 + (t / tMax) * (x1 - x0);
    const sy = (r: number): number => y0 - (r / rMax) * (y0 - y1);
    out.push(
      `<text x="${x0}" y="${top + 20}" font-size="13" font-weight="bold">${escapeXml(`${s.id}: ${s.title}`)}</text>`,
    );
    out.push(`<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#999"/>`);
    for (let k = 0; k <= Y_TICKS; k++) {
      const r = (rMax * k) / Y_TICKS;
      const y = sy(r).toFixed(1);
      out.push(`<line x1="${x0}" y1="${y}" x2="${x1}" y2="${y}" stroke="#eee"/>`);
      out.push(
        `<text x="${x0 - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatRate(r)}</text>`,
      );
    }
    for (let k = 0; k <= 5; k++) {
      const t = (tMax * k) / 5;
      out.push(
        `<text x="${sx(t).toFixed(1)}" y="${y0 + 14}" text-anchor="middle">${Number(t.toFixed(1))} s</text>`,
      );
    }
    out.push(
      `<text x="14" y="${(y0 + y1) / 2}" transform="rotate(-90 14 ${(y0 + y1) / 2})" text-anchor="middle">msg/s</text>`,
    );
    s.series.forEach((line, j) => {
      const color = COLORS[j % COLORS.length];
      if (line.points.length > 0) {
        const pts = line.points.map(([t, r]) => `${sx(t).toFixed(1)},${sy(r).toFixed(1)}`).join(' ');
        out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.5" points="${pts}"/>`);
      }
      const ly = y1 + 12 + j * 14;
      out.push(`<rect x="${x1 - 190}" y="${ly - 8}" width="10" height="10" fill="${color}"/>`);
      out.push(`<text x="${x1 - 175}" y="${ly}">${escapeXml(line.label)}</text>`);
    });
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
