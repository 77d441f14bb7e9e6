// The page: files dropped or picked (patterns are classified, CIFs simulated), a pasted CIF, the
// effect preset and seed; tables, plots and messages. Thin over the browser core
// (src/web/core.ts, loaded as ./xrd-core.js); window.__xrd exposes the state and results for tests.
import {
  classifyPatternText,
  loadModelFrom,
  loadSpaceGroupTables,
  openEngine,
  patternSvg,
  PRESET_NAMES,
  simulateCifText,
  type Engine,
  type Model,
  type PatternResult,
  type PresetName,
  type RankedClass,
  type SimulatedStructure,
} from '../src/web/core.ts';

type HookResult =
  | { kind: 'pattern'; file: string; crystalSystem: RankedClass[]; spaceGroup: RankedClass[]; coverage: number; ms: number }
  | { kind: 'structure'; name: string; spaceGroup: number | null; symbol: string | null; preset: PresetName; seed: number; peaks: number; intensity: number[]; ms: number }
  | { kind: 'error'; file: string; message: string };

interface XrdHook {
  state: 'loading' | 'ready' | 'busy' | 'error';
  message: string;
  /** Tasks queued or running (0 when the page is idle). */
  pending: number;
  loadMs: number;
  results: HookResult[];
}

declare global {
  interface Window {
    __xrd: XrdHook;
  }
}

const hook: XrdHook = { state: 'loading', message: '', pending: 0, loadMs: 0, results: [] };
window.__xrd = hook;

const MAX_FILE_BYTES = 32 * 2 ** 20;
const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

function setStatus(state: XrdHook['state'], message: string): void {
  hook.state = state;
  hook.message = message;
  const el = $('status');
  el.dataset.state = state;
  el.textContent = message;
}

/** A readable sentence for any failure; our errors already are, others are named as internal. */
function reason(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  if (['TypeError', 'ReferenceError', 'RangeError', 'SyntaxError'].includes(e.name)) return `internal error (${e.name}): ${e.message}`;
  return e.message;
}

function showError(file: string, message: string): void {
  hook.results.push({ kind: 'error', file, message });
  const p = document.createElement('p');
  p.className = 'error';
  p.dataset.file = file;
  // Our errors name the file themselves (with the line); others get it in front.
  p.textContent = file && !message.startsWith(file) ? `${file}: ${message}` : message;
  $('messages').append(p);
}

const pct = (p: number): string => `${(100 * p).toFixed(1)}%`;
const classText = (r: RankedClass): string => `${r.symbol ? `${r.label} ${r.symbol}` : r.label} ${pct(r.probability)}`;

function cell(row: HTMLTableRowElement, text: string): void {
  const td = document.createElement('td');
  td.textContent = text;
  row.append(td);
}

function select(row: HTMLTableRowElement): void {
  for (const r of row.parentElement!.children) r.classList.remove('selected');
  row.classList.add('selected');
}

// ---------------------------------------------------------------------------------------------
// Engine and models

let engine: Engine | null = null;
let models: Model[] = [];

async function start(): Promise<void> {
  const t0 = performance.now();
  setStatus('loading', 'Starting WebGPU…');
  engine = await openEngine(navigator.gpu);
  setStatus('loading', 'Loading the space-group tables and the models…');
  const query = new URLSearchParams(location.search).get('models');
  const dirs = query ? query.split(',').filter((d) => d) : ['models/crystal-system', 'models/space-group'];
  await loadSpaceGroupTables('moyo_wasm_bg.wasm');
  for (const d of dirs) models.push(await loadModelFrom(engine, d));
  hook.loadMs = performance.now() - t0;
  const { vendor, architecture, device, description } = engine.info;
  const gpu = [vendor, architecture, device, description].filter(Boolean).join(' ') || 'the browser’s WebGPU adapter';
  setStatus('ready', `Ready: ${models.map((m) => `${m.config.task} model (${m.classes.length} classes)`).join(' and ')} on ${gpu}${engine.info.featureLevel === 'compatibility' ? ' (compatibility mode)' : ''}. Drop files or paste a CIF.`);
}

const ready = start().catch((e: unknown) => {
  const what = e instanceof Error && e.name === 'ModelLoadError' ? 'The models could not be loaded: ' : '';
  setStatus('error', `${what}${reason(e)}`);
  throw e;
});
ready.catch(() => undefined);

// One task at a time (the GPU is shared); failures become messages, never uncaught errors.
let queue: Promise<void> = Promise.resolve();
function enqueue(label: string, task: () => Promise<void>): void {
  hook.pending++;
  queue = queue.then(async () => {
    try {
      await ready;
    } catch {
      hook.pending--;
      return; // the status line already says why nothing can run
    }
    setStatus('busy', label);
    try {
      await task();
    } catch (e) {
      showError('', reason(e));
    } finally {
      hook.pending--;
      if (hook.state === 'busy') setStatus('ready', hook.pending > 0 ? 'Working…' : 'Ready. Drop more files or paste a CIF.');
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Patterns

function plotPattern(r: PatternResult): void {
  const best = r.crystalSystem?.top[0] ?? r.spaceGroup?.top[0];
  const name = best ? (r.crystalSystem ? best.label : `space group ${best.label}`) : '';
  $('pattern-plot').innerHTML = patternSvg({
    x: r.twoTheta,
    y: r.values,
    title: best ? `${r.file}: ${name} (${pct(best.probability)})` : r.file,
    ...(r.shading ? { shading: r.shading, shadingLabel: `support for ${name} (integrated gradients)` } : {}),
  });
  if (r.supportPeaks.length > 0) {
    const p = document.createElement('p');
    p.className = 'caption';
    p.textContent = `Peaks that carried ${name}: ${r.supportPeaks.map((s) => `${s.twoTheta.toFixed(2)}° (${pct(s.share)})`).join(', ')}.`;
    $('pattern-plot').append(p);
  }
}

async function classify(file: string, text: string): Promise<void> {
  const t0 = performance.now();
  const wavelength = Number($<HTMLInputElement>('wavelength').value) || undefined;
  let r: PatternResult;
  try {
    r = await classifyPatternText(models, text, file, { top: 5, ...(wavelength ? { wavelength } : {}) });
  } catch (e) {
    showError(file, reason(e));
    return;
  }
  const ms = performance.now() - t0;
  const cs = r.crystalSystem?.top ?? [];
  const sg = r.spaceGroup?.top ?? [];
  hook.results.push({ kind: 'pattern', file, crystalSystem: cs, spaceGroup: sg, coverage: r.coverage.fraction, ms });
  const section = $('patterns');
  section.hidden = false;
  const row = document.createElement('tr');
  row.dataset.file = file;
  cell(row, r.coverage.fraction < 0.999 ? `${file} (covers ${r.coverage.from.toFixed(1)}-${r.coverage.to.toFixed(1)}°)` : file);
  cell(row, cs[0] ? classText(cs[0]) : '');
  cell(row, sg[0] ? classText(sg[0]) : '');
  cell(row, cs.map(classText).join(', '));
  cell(row, sg.map(classText).join(', '));
  cell(row, `${(ms / 1000).toFixed(1)} s`);
  row.addEventListener('click', () => {
    select(row);
    plotPattern(r);
  });
  section.querySelector('tbody')!.append(row);
  select(row);
  plotPattern(r);
}

// ---------------------------------------------------------------------------------------------
// Structures (CIF)

/** CIFs given so far, simulated again when the preset or seed changes. */
const cifs: { file: string; text: string }[] = [];

function xyText(s: SimulatedStructure): string {
  const lines = [
    `# xrd-npcnn in the browser: ${s.name}`,
    `# space group: ${s.spaceGroup === null ? 'unknown' : `${s.spaceGroup} (${s.symbol})`}`,
    `# preset: ${s.preset}, seed: ${s.seed}`,
    '# wavelength: 1.5418 A',
    '# columns: two_theta intensity (maximum 1)',
  ];
  for (let i = 0; i < s.twoTheta.length; i++) lines.push(`${s.twoTheta[i]!.toFixed(2)} ${+s.intensity[i]!.toPrecision(6)}`);
  return `${lines.join('\n')}\n`;
}

function plotStructure(s: SimulatedStructure): void {
  const sg = s.spaceGroup === null ? 'space group unknown' : `${s.symbol} (${s.spaceGroup})`;
  $('structure-plot').innerHTML = patternSvg({ x: s.twoTheta, y: s.intensity, peaks: s.peaks, title: `${s.name}: ${sg}, ${s.preset}` });
}

async function simulateCif(file: string, text: string): Promise<void> {
  const t0 = performance.now();
  const preset = $<HTMLSelectElement>('preset').value as PresetName;
  const seed = Math.max(0, Math.floor(Number($<HTMLInputElement>('seed').value) || 0));
  let structures: SimulatedStructure[];
  try {
    structures = await simulateCifText(engine!, text, file, { preset, seed });
  } catch (e) {
    showError(file, reason(e));
    return;
  }
  const ms = performance.now() - t0;
  const section = $('structures');
  section.hidden = false;
  const body = section.querySelector('tbody')!;
  for (const s of structures) {
    hook.results.push({ kind: 'structure', name: s.name, spaceGroup: s.spaceGroup, symbol: s.symbol, preset, seed, peaks: s.peaks.length, intensity: Array.from(s.intensity), ms });
    body.querySelector(`tr[data-name="${CSS.escape(s.name)}"]`)?.remove();
    const row = document.createElement('tr');
    row.dataset.name = s.name;
    cell(row, s.name);
    cell(row, s.spaceGroup === null ? 'unknown' : `${s.spaceGroup} ${s.symbol}${s.spaceGroupSource === 'detected' ? ' (detected)' : ''}`);
    cell(row, s.crystalSystem ?? '');
    cell(row, `${s.preset}, seed ${s.seed}`);
    cell(row, String(s.peaks.length));
    const td = document.createElement('td');
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([xyText(s)], { type: 'text/plain' }));
    a.download = `${s.name}.xy`;
    a.textContent = `${s.name}.xy`;
    a.addEventListener('click', (e) => e.stopPropagation());
    td.append(a);
    row.append(td);
    row.addEventListener('click', () => {
      select(row);
      plotStructure(s);
    });
    body.append(row);
    select(row);
    plotStructure(s);
  }
}

function addCif(file: string, text: string): void {
  const known = cifs.find((c) => c.file === file);
  if (known) known.text = text;
  else cifs.push({ file, text });
  enqueue(`Simulating ${file}…`, () => simulateCif(file, text));
}

// ---------------------------------------------------------------------------------------------
// Input

async function readText(file: File): Promise<string> {
  if (file.size > MAX_FILE_BYTES) throw new Error(`is ${(file.size / 2 ** 20).toFixed(0)} MiB; pattern files and CIFs are far smaller (at most 32 MiB here)`);
  try {
    return await file.text();
  } catch (e) {
    throw new Error(`cannot be read: ${reason(e)}`);
  }
}

function takeFiles(list: FileList | null): void {
  for (const file of Array.from(list ?? [])) {
    const lower = file.name.toLowerCase();
    if (lower.endsWith('.npy')) {
      showError(file.name, 'NumPy arrays are read by `xrd predict`, not by this page; save the pattern as two-column text (XY)');
      continue;
    }
    const isCif = lower.endsWith('.cif');
    readText(file).then(
      (text) => (isCif ? addCif(file.name, text) : enqueue(`Classifying ${file.name}…`, () => classify(file.name, text))),
      (e: unknown) => showError(file.name, reason(e)),
    );
  }
}

for (const p of PRESET_NAMES) {
  const o = document.createElement('option');
  o.value = p;
  o.textContent = p;
  $('preset').append(o);
}
$<HTMLSelectElement>('preset').value = 'paper';

$<HTMLInputElement>('files').addEventListener('change', (e) => {
  const input = e.target as HTMLInputElement;
  takeFiles(input.files);
  input.value = '';
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  takeFiles(e.dataTransfer?.files ?? null);
});
// Files dropped anywhere else would make the browser open them instead of the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

$('simulate-cif').addEventListener('click', () => {
  const text = $<HTMLTextAreaElement>('cif-text').value;
  if (!text.trim()) {
    showError('', 'paste the text of a CIF into the box first');
    return;
  }
  addCif('pasted.cif', text);
});

for (const id of ['preset', 'seed']) {
  $(id).addEventListener('change', () => {
    for (const c of cifs) enqueue(`Simulating ${c.file}…`, () => simulateCif(c.file, c.text));
  });
}
