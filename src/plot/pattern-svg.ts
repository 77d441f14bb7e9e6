// SVG plot of a diffraction pattern: the pattern as one path, peak positions as ticks in a strip
// under it with hkl labels on the strongest peaks, axes with ticks and labels, and a title.
// Plain string building, no dependencies; the result is a standalone SVG 1.1 document.

export interface PlotPeak {
  two_theta: number;
  /** 0..100. */
  intensity: number;
  hkl: readonly (readonly number[])[];
}

export interface PatternPlotOptions {
  /** 2-theta grid (degrees), ascending. */
  x: ArrayLike<number>;
  /** Intensities, same length as x. */
  y: ArrayLike<number>;
  title: string;
  peaks?: PlotPeak[];
  /** How many of the strongest peaks get an hkl label; default 10. */
  labelCount?: number;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Per point in [0, 1]: shades the columns behind the pattern (e.g. attributions). */
  shading?: ArrayLike<number>;
  /** Legend text for the shading. */
  shadingLabel?: string;
}

export class PlotError extends Error {
  override name = 'PlotError';
}

/** Escape text for XML content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round ticks (1, 2 or 5 times a power of ten apart) covering [min, max], about `target` of them. */
export function niceTicks(min: number, max: number, target = 8): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(+v.toFixed(12));
  }
  return ticks;
}

function fmt(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

function tickLabel(v: number): string {
  return +v.toPrecision(6) + '';
}

/** "(110)" when every index is a single non-negative digit, "(1 -1 0)" otherwise. */
export function hklLabel(hkl: readonly number[]): string {
  return hkl.every((i) => i >= 0 && i < 10) ? `(${hkl.join('')})` : `(${hkl.join(' ')})`;
}

export function patternSvg(o: PatternPlotOptions): string {
  const n = o.x.length;
  if (n < 2 || o.y.length !== n) throw new PlotError(`plot needs at least 2 points and as many intensities as angles (got ${n} and ${o.y.length})`);
  const width = o.width ?? 960;
  const height = o.height ?? 520;
  const m = { left: 72, right: 24, top: 44, bottom: 58 };
  const strip = o.peaks && o.peaks.length ? 26 : 0; // peak-tick strip between the pattern and the x axis
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom - strip;
  const x0 = o.x[0];
  const x1 = o.x[n - 1];
  let yMax = 0;
  let yMin = Infinity;
  for (let i = 0; i < n; i++) {
    const v = o.y[i];
    if (!Number.isFinite(v)) throw new PlotError(`intensity ${i} is not finite (${v}); cannot plot`);
    if (v > yMax) yMax = v;
    if (v < yMin) yMin = v;
  }
  yMin = Math.min(0, yMin);
  if (yMax <= yMin) yMax = yMin + 1;
  const yTop = yMax * 1.12; // head-room for hkl labels
  const px = (v: number): number => m.left + ((v - x0) / (x1 - x0)) * plotW;
  const py = (v: number): number => m.top + plotH - ((v - yMin) / (yTop - yMin)) * plotH;

  // The pattern: per pixel column keep the first, lowest, highest and last point, in order, so
  // narrow peaks survive and the file stays small.
  const parts: string[] = [];
  let col = -1;
  let bucket: number[] = [];
  const flush = (): void => {
    if (!bucket.length) return;
    let lo = bucket[0];
    let hi = bucket[0];
    for (const i of bucket) {
      if (o.y[i] < o.y[lo]) lo = i;
      if (o.y[i] > o.y[hi]) hi = i;
    }
    const keep = [...new Set([bucket[0], lo, hi, bucket[bucket.length - 1]])].sort((a, b) => a - b);
    for (const i of keep) parts.push(`${parts.length ? 'L' : 'M'}${fmt(px(o.x[i]))} ${fmt(py(o.y[i]))}`);
    bucket = [];
  };
  for (let i = 0; i < n; i++) {
    const c = Math.floor(px(o.x[i]));
    if (c !== col) {
      flush();
      col = c;
    }
    bucket.push(i);
  }
  flush();

  const out: string[] = [];
  out.push('<?xml version="1.0" encoding="UTF-8"?>');
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="${m.top / 2 + 6}" text-anchor="middle" font-size="16">${xmlEscape(o.title)}</text>`);

  // Axes, ticks, grid labels.
  const axisY = m.top + plotH + strip;
  out.push(`<g stroke="black" stroke-width="1" fill="none">`);
  out.push(`<rect x="${m.left}" y="${m.top}" width="${plotW}" height="${plotH + strip}"/>`);
  for (const t of niceTicks(x0, x1, 10)) out.push(`<line x1="${fmt(px(t))}" y1="${axisY}" x2="${fmt(px(t))}" y2="${axisY + 5}"/>`);
  for (const t of niceTicks(yMin, yMax, 5)) out.push(`<line x1="${m.left - 5}" y1="${fmt(py(t))}" x2="${m.left}" y2="${fmt(py(t))}"/>`);
  out.push('</g>');
  out.push('<g fill="black">');
  for (const t of niceTicks(x0, x1, 10)) out.push(`<text x="${fmt(px(t))}" y="${axisY + 18}" text-anchor="middle">${tickLabel(t)}</text>`);
  for (const t of niceTicks(yMin, yMax, 5)) out.push(`<text x="${m.left - 8}" y="${fmt(py(t) + 4)}" text-anchor="end">${tickLabel(t)}</text>`);
  out.push(`<text x="${m.left + plotW / 2}" y="${height - 14}" text-anchor="middle" font-size="14">${xmlEscape(o.xLabel ?? '2θ (degrees)')}</text>`);
  out.push(`<text transform="translate(18 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="14">${xmlEscape(o.yLabel ?? 'Intensity (normalised)')}</text>`);
  out.push('</g>');

  if (o.shading) {
    if (o.shading.length !== n) throw new PlotError(`shading needs one value per point (${n}), got ${o.shading.length}`);
    // one rectangle per pixel column, as dark as the strongest value in it
    const cols = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const v = Math.max(0, Math.min(1, o.shading[i]!));
      const c = Math.floor(px(o.x[i]));
      cols.set(c, Math.max(cols.get(c) ?? 0, v));
    }
    out.push('<g fill="#f28e2b">');
    for (const [c, v] of cols) if (v > 0.02) out.push(`<rect x="${c}" y="${m.top}" width="1" height="${fmt(plotH)}" fill-opacity="${fmt(0.85 * v)}"/>`);
    out.push('</g>');
    if (o.shadingLabel) {
      out.push(`<rect x="${m.left + 10}" y="${m.top + 8}" width="14" height="10" fill="#f28e2b"/>`);
      out.push(`<text x="${m.left + 30}" y="${m.top + 17}">${xmlEscape(o.shadingLabel)}</text>`);
    }
  }
  out.push(`<path d="${parts.join('')}" fill="none" stroke="#1f4e9c" stroke-width="1.1" stroke-linejoin="round"/>`);

  if (o.peaks && o.peaks.length) {
    const inRange = o.peaks.filter((p) => p.two_theta >= x0 && p.two_theta <= x1);
    out.push('<g stroke="#b03030" stroke-width="1">');
    for (const p of inRange) {
      const len = 4 + (16 * Math.max(0, Math.min(100, p.intensity))) / 100;
      const x = fmt(px(p.two_theta));
      out.push(`<line x1="${x}" y1="${axisY - 3}" x2="${x}" y2="${fmt(axisY - 3 - len)}"/>`);
    }
    out.push('</g>');
    const strongest = [...inRange].sort((a, b) => b.intensity - a.intensity).slice(0, o.labelCount ?? 10);
    out.push('<g fill="#b03030" font-size="10">');
    for (const p of strongest) {
      // Label just above the pattern's local maximum near the peak.
      const i0 = Math.max(0, Math.min(n - 1, Math.round(((p.two_theta - x0) / (x1 - x0)) * (n - 1))));
      let top = o.y[i0];
      for (let i = Math.max(0, i0 - 20); i <= Math.min(n - 1, i0 + 20); i++) top = Math.max(top, o.y[i]);
      const x = fmt(px(p.two_theta) + 3);
      const y = fmt(Math.max(m.top + 30, py(top) - 4));
      out.push(`<text transform="translate(${x} ${y}) rotate(-90)">${xmlEscape(hklLabel(p.hkl[0] ?? []))}</text>`);
    }
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
