// The benchmark chart: a self-contained SVG (no scripts, no fonts to fetch) that any browser opens.
//
// Two panels side by side: requests per second per scenario, and latency p50/p99 per scenario on the same rows.
// Pure: figures in, SVG text out.
import type { ScenarioFigures } from './load.js';

const rowHeight = 28;
const labelWidth = 120;
const panelWidth = 330;
const gap = 40;
const top = 56;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function formatNumber(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : String(Math.round(value * 10) / 10);
}

export function renderChart(scenarios: Record<string, ScenarioFigures>, title: string): string {
  const rows = Object.entries(scenarios);
  const rpsMax = Math.max(1, ...rows.map(([, figures]) => figures.rps));
  const latencyMax = Math.max(1, ...rows.map(([, figures]) => figures.p99));
  const width = labelWidth + 2 * panelWidth + gap + 80;
  const height = top + rows.length * rowHeight + 40;
  const rpsLeft = labelWidth;
  const latencyLeft = labelWidth + panelWidth + gap + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<text x="${rpsLeft}" y="${top - 10}" font-weight="bold">requests per second</text>`,
    `<text x="${latencyLeft}" y="${top - 10}" font-weight="bold">latency ms (dark p50, light p99)</text>`,
  ];
  rows.forEach(([name, figures], index) => {
    const y = top + index * rowHeight;
    const rpsWidth = (figures.rps / rpsMax) * (panelWidth - 70);
    const p99Width = (figures.p99 / latencyMax) * (panelWidth - 70);
    const p50Width = (figures.p50 / latencyMax) * (panelWidth - 70);
    const color = name === 'baseline-http' ? '#888888' : '#2a6fb0';
    parts.push(
      `<text x="${labelWidth - 8}" y="${y + 17}" text-anchor="end">${escapeXml(name)}</text>`,
      `<rect x="${rpsLeft}" y="${y + 4}" width="${rpsWidth.toFixed(1)}" height="${rowHeight - 10}" fill="${color}"/>`,
      `<text x="${(rpsLeft + rpsWidth + 4).toFixed(1)}" y="${y + 17}">${formatNumber(figures.rps)}</text>`,
      `<rect x="${latencyLeft}" y="${y + 4}" width="${p99Width.toFixed(1)}" height="${rowHeight - 10}" fill="#f0a860"/>`,
      `<rect x="${latencyLeft}" y="${y + 4}" width="${p50Width.toFixed(1)}" height="${rowHeight - 10}" fill="#c0601a"/>`,
      `<text x="${(latencyLeft + p99Width + 4).toFixed(1)}" y="${y + 17}">${formatNumber(figures.p50)} / ${formatNumber(figures.p99)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
