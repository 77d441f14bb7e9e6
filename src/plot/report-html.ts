// The evaluation report as one self-contained HTML file (inline SVG, no scripts, no external
// resources): summary with baselines, confusion-matrix heatmap, per-class F1, reliability
// diagram, and the most confident mistakes drawn with their top predictions.
import type { Metrics } from '../npcnn/metrics.ts';
import { niceTicks, patternSvg, xmlEscape } from './pattern-svg.ts';

export interface ReportMistake {
  file: string;
  truth: string;
  /** Top classes with probabilities, most probable first. */
  top: { label: string; probability: number }[];
  /** The pattern on the model's grid. */
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export interface ReportInput {
  title: string;
  /** Lines under the title: model, data, date. */
  about: string[];
  metrics: Metrics;
  mistakes: ReportMistake[];
  /** Files left out, with the reason. */
  failures: { file: string; error: string }[];
}

const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

function confusionSvg(m: Metrics): string {
  // classes that occur in the truth or the predictions (230 space groups would not be readable)
  const keep = m.per_class.map((c, i) => (c.support || c.predicted ? i : -1)).filter((i) => i >= 0);
  const cell = Math.max(8, Math.min(44, Math.floor(560 / keep.length)));
  const left = 120;
  const top = 110;
  const size = cell * keep.length;
  const w = left + size + 20;
  const h = top + size + 40;
  let max = 1;
  for (const t of keep) for (const p of keep) max = Math.max(max, m.confusion[t]![p]!);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`];
  keep.forEach((t, r) => {
    out.push(`<text x="${left - 6}" y="${top + r * cell + cell / 2 + 4}" text-anchor="end">${xmlEscape(m.per_class[t]!.label)}</text>`);
    out.push(`<text transform="translate(${left + r * cell + cell / 2 + 4},${top - 6}) rotate(-60)">${xmlEscape(m.per_class[t]!.label)}</text>`);
    keep.forEach((p, c) => {
      const v = m.confusion[t]![p]!;
      const shade = v / max;
      const fill = t === p ? `rgba(44,160,44,${0.1 + 0.9 * shade})` : `rgba(214,39,40,${v ? 0.1 + 0.9 * shade : 0})`;
      out.push(`<rect x="${left + c * cell}" y="${top + r * cell}" width="${cell}" height="${cell}" fill="${fill}" stroke="#ddd"><title>true ${xmlEscape(m.per_class[t]!.label)}, predicted ${xmlEscape(m.per_class[p]!.label)}: ${v}</title></rect>`);
      if (v && cell >= 18) out.push(`<text x="${left + c * cell + cell / 2}" y="${top + r * cell + cell / 2 + 4}" text-anchor="middle">${v}</text>`);
    });
  });
  out.push(`<text x="${left + size / 2}" y="${h - 8}" text-anchor="middle">predicted</text>`);
  out.push(`<text transform="translate(14,${top + size / 2}) rotate(-90)" text-anchor="middle">true</text>`);
  out.push('</svg>');
  return out.join('');
}

function f1Svg(m: Metrics): string {
  const rows = m.per_class.filter((c) => c.support > 0);
  const bar = 18;
  const left = 120;
  const width = 360;
  const h = rows.length * bar + 30;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${left + width + 120}" height="${h}" font-family="sans-serif" font-size="11">`];
  rows.forEach((c, i) => {
    const y = 10 + i * bar;
    out.push(`<text x="${left - 6}" y="${y + 12}" text-anchor="end">${xmlEscape(c.label)}</text>`);
    out.push(`<rect x="${left}" y="${y + 2}" width="${(width * c.f1).toFixed(1)}" height="${bar - 5}" fill="#4e79a7"/>`);
    out.push(`<text x="${left + width * c.f1 + 4}" y="${y + 12}">${c.f1.toFixed(2)} (n ${c.support})</text>`);
  });
  out.push('</svg>');
  return out.join('');
}

function reliabilitySvg(m: Metrics): string {
  const s = 300;
  const pad = 40;
  const px = (v: number) => pad + v * s;
  const py = (v: number) => pad + (1 - v) * s;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${s + 2 * pad}" height="${s + 2 * pad}" font-family="sans-serif" font-size="11">`];
  out.push(`<rect x="${pad}" y="${pad}" width="${s}" height="${s}" fill="none" stroke="#888"/>`);
  out.push(`<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" stroke="#aaa" stroke-dasharray="4 3"/>`);
  for (const t of niceTicks(0, 1, 5)) {
    out.push(`<text x="${px(t)}" y="${pad + s + 14}" text-anchor="middle">${t}</text>`);
    out.push(`<text x="${pad - 6}" y="${py(t) + 4}" text-anchor="end">${t}</text>`);
  }
  for (const b of m.reliability) {
    if (!b.count) continue;
    out.push(`<rect x="${px(b.from) + 1}" y="${py(b.accuracy)}" width="${s * (b.to - b.from) - 2}" height="${(s * b.accuracy).toFixed(1)}" fill="#4e79a7" fill-opacity="0.7"><title>confidence ${b.from.toFixed(1)}-${b.to.toFixed(1)}: accuracy ${b.accuracy.toFixed(2)} over ${b.count}</title></rect>`);
    out.push(`<circle cx="${px(b.confidence)}" cy="${py(b.confidence)}" r="2.5" fill="#e15759"/>`);
  }
  out.push(`<text x="${pad + s / 2}" y="${pad + s + 30}" text-anchor="middle">top-1 probability</text>`);
  out.push(`<text transform="translate(12,${pad + s / 2}) rotate(-90)" text-anchor="middle">accuracy</text>`);
  out.push('</svg>');
  return out.join('');
}

export function evalReportHtml(r: ReportInput): string {
  const m = r.metrics;
  const summary = [
    ['patterns', String(m.n)],
    ['top-1', pct(m.top1)],
    ['top-3', pct(m.top3)],
    ['top-5', pct(m.top5)],
    ['macro-F1', m.macro_f1.toFixed(3)],
    [`majority class (${m.majority.label})`, pct(m.majority.top1)],
    ['expected calibration error', m.ece.toFixed(3)],
  ];
  const mistakes = r.mistakes.map((x) => {
    const title = `${x.file}: true ${x.truth}; predicted ${x.top.map((t) => `${t.label} ${pct(t.probability)}`).join(', ')}`;
    return `<figure>${patternSvg({ x: x.x, y: x.y, title, width: 900, height: 300 }).replace(/^<\?xml[^>]*>\n/, '')}</figure>`;
  });
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${xmlEscape(r.title)}</title>
<style>body{font-family:sans-serif;max-width:1000px;margin:24px auto;color:#222}table{border-collapse:collapse}td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:left}h2{margin-top:32px}figure{margin:8px 0}.row{display:flex;gap:32px;flex-wrap:wrap}</style>
</head><body>
<h1>${xmlEscape(r.title)}</h1>
${r.about.map((l) => `<p>${xmlEscape(l)}</p>`).join('\n')}
<table>${summary.map(([k, v]) => `<tr><th>${xmlEscape(k!)}</th><td>${xmlEscape(v!)}</td></tr>`).join('')}</table>
<h2>Confusion matrix</h2>
${confusionSvg(m)}
<div class="row"><div><h2>F1 per class</h2>${f1Svg(m)}</div><div><h2>Reliability</h2>${reliabilitySvg(m)}</div></div>
<h2>Most confident mistakes</h2>
${mistakes.join('\n') || '<p>none</p>'}
${r.failures.length ? `<h2>Files left out</h2><ul>${r.failures.map((f) => `<li>${xmlEscape(f.file)}: ${xmlEscape(f.error)}</li>`).join('')}</ul>` : ''}
</body></html>
`;
}
