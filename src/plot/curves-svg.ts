// Line charts of training curves (loss and accuracy against patterns seen) as a standalone SVG.
import { niceTicks, xmlEscape } from './pattern-svg.ts';

export interface Series {
  name: string;
  color: string;
  points: [number, number][];
  /** Draw markers instead of a line (sparse series such as validations). */
  markers?: boolean;
}

export interface Panel {
  title: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range (e.g. [0, 1] for accuracy); default from the data. */
  yRange?: [number, number];
}

const W = 460;
const H = 300;
const M = { left: 58, right: 14, top: 30, bottom: 44 };

function fmt(v: number): string {
  const a = Math.abs(v);
  // as many mantissa digits as the value needs (150000 is 1.5e+5, not 2e+5)
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return Number(v.toPrecision(4)).toExponential();
  return String(Number(v.toPrecision(4)));
}

function panelSvg(p: Panel, xLabel: string, dx: number): string {
  const all = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const xs = all.map((q) => q[0]);
  const ys = all.map((q) => q[1]);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs, x0 + 1) : 1;
  let [y0, y1] = p.yRange ?? [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  if (y1 <= y0) y1 = y0 + 1;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const sx = (x: number) => dx + M.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => M.top + (1 - (y - y0) / (y1 - y0)) * ph;
  const out: string[] = [];
  out.push(`<text x="${dx + M.left}" y="18" font-size="13" font-weight="bold">${xmlEscape(p.title)}</text>`);
  for (const t of niceTicks(y0, y1, 6)) {
    out.push(`<line x1="${dx + M.left}" x2="${dx + M.left + pw}" y1="${sy(t).toFixed(1)}" y2="${sy(t).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${dx + M.left - 6}" y="${(sy(t) + 4).toFixed(1)}" font-size="10" text-anchor="end">${fmt(t)}</text>`);
  }
  for (const t of niceTicks(x0, x1, 5)) {
    out.push(`<text x="${sx(t).toFixed(1)}" y="${M.top + ph + 15}" font-size="10" text-anchor="middle">${fmt(t)}</text>`);
  }
  out.push(`<rect x="${dx + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  out.push(`<text x="${dx + M.left + pw / 2}" y="${H - 8}" font-size="11" text-anchor="middle">${xmlEscape(xLabel)}</text>`);
  out.push(`<text transform="translate(${dx + 14},${M.top + ph / 2}) rotate(-90)" font-size="11" text-anchor="middle">${xmlEscape(p.yLabel)}</text>`);
  p.series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
    if (s.markers) {
      for (const [x, y] of pts) out.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${s.color}"/>`);
    } else if (pts.length) {
      const d = pts.map(([x, y], k) => `${k ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
      out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    }
    // legend at the top right, text ending beside its swatch (long names grow leftwards)
    const ly = M.top + 12 + i * 14;
    out.push(`<rect x="${dx + M.left + pw - 16}" y="${ly - 8}" width="10" height="3" fill="${s.color}"/>`);
    out.push(`<text x="${dx + M.left + pw - 20}" y="${ly - 3}" font-size="10" text-anchor="end">${xmlEscape(s.name)}</text>`);
  });
  return out.join('\n');
}

/** Panels side by side sharing an x label. */
export function curvesSvg(panels: Panel[], xLabel: string): string {
  const width = W * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${H}" viewBox="0 0 ${width} ${H}" font-family="sans-serif">`,
    `<rect width="${width}" height="${H}" fill="white"/>`,
    ...panels.map((p, i) => panelSvg(p, xLabel, i * W)),
    '</svg>',
    '',
  ].join('\n');
}
