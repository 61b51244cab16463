// Draws the soak's curve as a small SVG: table size (with indexes, and the
// heap alone) and jobs finished per second, against minutes.
//   node bench/plot-soak.js <soak result .json> <out.svg>
// The input is the soak scenario's JSON line (bench/scenario.js soak ...)
// or a bench/results file holding a soak run.
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
const raw = JSON.parse(readFileSync(input, 'utf8').trim().split('\n').at(-1));
const samples = raw.samples ?? raw.results.find((r) => r.runs?.[0]?.samples).runs[0].samples;

const W = 720;
const H = 200;
const M = { left: 56, right: 16, top: 24, bottom: 28 };

/** One panel: lines of `series` ([label, colour, key]) over the samples. */
function panel(title, series, unit, y0) {
  const maxX = Math.max(...samples.map((s) => s.minute));
  const maxY = Math.max(...series.flatMap(([, , key]) => samples.map((s) => s[key]))) * 1.1 || 1;
  const x = (v) => M.left + (v / maxX) * (W - M.left - M.right);
  const y = (v) => y0 + H - M.bottom - (v / maxY) * (H - M.top - M.bottom);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => f * maxY);
  const minutes = Array.from({ length: Math.floor(maxX / 5) + 1 }, (_, i) => i * 5);
  return [
    `<text x="${M.left}" y="${y0 + 16}" font-weight="bold">${title}</text>`,
    ...ticks.map((t) => `<line x1="${M.left}" x2="${W - M.right}" y1="${y(t)}" y2="${y(t)}" stroke="#ddd"/><text x="${M.left - 6}" y="${y(t) + 4}" text-anchor="end">${Math.round(t).toLocaleString('en-US')}</text>`),
    ...minutes.map((m) => `<text x="${x(m)}" y="${y0 + H - 10}" text-anchor="middle">${m} min</text>`),
    ...series.map(([label, colour, key], i) => {
      const points = samples.map((s) => `${x(s.minute).toFixed(1)},${y(s[key]).toFixed(1)}`).join(' ');
      return `<polyline fill="none" stroke="${colour}" stroke-width="2" points="${points}"/><text x="${W - M.right - 200 + i * 100}" y="${y0 + 16}" fill="${colour}">${label}</text>`;
    }),
    `<text x="12" y="${y0 + H / 2}" transform="rotate(-90 12 ${y0 + H / 2})" text-anchor="middle">${unit}</text>`,
  ].join('\n');
}

const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${2 * H}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="white"/>
${panel('jobs table size', [['with indexes', '#1f77b4', 'totalMb'], ['heap alone', '#ff7f0e', 'heapMb']], 'MB', 0)}
${panel('throughput', [['jobs/s', '#2ca02c', 'jobsPerSecond']], 'jobs/s', H)}
</svg>
`;
writeFileSync(output, svg);
console.log(`wrote ${output} (${samples.length} samples)`);
