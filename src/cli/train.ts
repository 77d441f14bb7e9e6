// `xrd train`: trains a classifier from streamed simulated patterns into a run directory
// (checkpoints, log, curves; the directory is also a model directory). Thin over npcnn/train.ts.
import { ARCHITECTURES, TASKS, type Architecture, type Task } from '../npcnn/config.ts';
import { readFileSync } from 'node:fs';
import { GENERATORS, LIBRARY_WEIGHTINGS, type DataOptions } from '../npcnn/data.ts';
import { SCHEDULES, type Schedule } from '../npcnn/schedule.ts';
import type { TrainEvent, TrainOptions } from '../npcnn/train.ts';
import { UsageError, type FlagValue } from './args.ts';
import type { CliIO, Command } from './command.ts';
import { PRIOR_FLAGS, priorFromFlags } from './priors.ts';
import { PRESETS, presetOf } from './render-crystals.ts';
import { parseSpaceGroups } from './synth.ts';

/** --library, --library-exclude and --library-weight as the data option. */
function libraryOption(f: Record<string, FlagValue | undefined>): NonNullable<DataOptions['library']> {
  const name = f.library as string;
  const weighting = choice('library-weight', f['library-weight'], LIBRARY_WEIGHTINGS);
  let exclude: string[] | undefined;
  const file = f['library-exclude'] as string | undefined;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read --library-exclude ${file}: ${(e as Error).message}`);
    }
    exclude = text
      .split(/\r?\n/)
      .map((l) => l.split(/[\t, ]/)[0]!.trim())
      .filter((id) => /^\d+$/.test(id));
    if (exclude.length === 0) throw new UsageError(`--library-exclude ${file} lists no ids (one per line, digits, first column)`);
  }
  return {
    ...(name === 'amcsd' ? {} : { path: name }),
    ...(exclude ? { exclude } : {}),
    ...(weighting ? { weighting } : {}),
  };
}

/** A fraction in [0, 1] for a flag that only applies with --cif. */
function unitFraction(flag: string, value: number, cif: string | undefined): number {
  if (!cif) throw new UsageError(`--${flag} applies to the real structures; give --cif DIRS or --library amcsd too`);
  if (!(value >= 0 && value <= 1)) throw new UsageError(`--${flag} must be between 0 and 1, got ${value}`);
  return value;
}

function choice<T extends string>(flag: string, value: FlagValue | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) throw new UsageError(`--${flag} must be one of ${allowed.join(', ')}, got '${value}'`);
  return value as T;
}

function duration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}

/** Progress lines: a redrawn bar on a terminal, a plain line every few seconds otherwise. */
class TrainProgress {
  private lastPlain = 0;
  private rate = 0;
  constructor(
    private readonly io: CliIO,
    private readonly steps: number,
  ) {}

  step(e: Extract<TrainEvent, { type: 'step' }>): void {
    this.rate = this.rate === 0 ? e.seconds : 0.9 * this.rate + 0.1 * e.seconds;
    const eta = this.rate * (this.steps - e.step);
    const text = `step ${e.step}/${this.steps} loss ${e.loss.toFixed(3)} acc ${e.accuracy.toFixed(2)} lr ${e.lr.toExponential(1)} ${e.patternsPerSecond.toFixed(1)} patterns/s ETA ${duration(eta)}`;
    if (this.io.stderr.isTTY) {
      const width = 24;
      const fill = Math.round((e.step / this.steps) * width);
      this.io.stderr.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${text}\x1b[K`);
    } else if (performance.now() - this.lastPlain > 5000 || e.step === this.steps) {
      this.lastPlain = performance.now();
      this.io.stderr.write(`${text}\n`);
    }
  }

  line(s: string): void {
    if (this.io.stderr.isTTY) this.io.stderr.write('\r\x1b[K');
    this.io.stderr.write(`${s}\n`);
  }
}

/** --measured DIR [--measured-share X] [--folds F --fold K] as DataOptions.measured. */
function measuredOption(f: Record<string, FlagValue | undefined>, defaultShare = 0.1): NonNullable<DataOptions['measured']> {
  const share = (f['measured-share'] as number | undefined) ?? defaultShare;
  if (!(share > 0 && share <= 1)) throw new UsageError(`--measured-share must be in (0, 1], got ${share}`);
  return { dir: f.measured as string, share, ...(f.folds !== undefined ? { folds: f.folds as string, fold: (f.fold as number | undefined) ?? 0 } : {}) };
}

/** --folds F --fold K: validation on --val restricted to the held-out fold. */
function foldOptions(f: Record<string, FlagValue | undefined>): Partial<TrainOptions> {
  if (f.fold !== undefined && f.folds === undefined) throw new UsageError('--fold needs --folds FILE (written by xrd folds)');
  if (f.folds === undefined) return {};
  const fold = (f.fold as number | undefined) ?? 0;
  if (!(Number.isInteger(fold) && fold >= 0)) throw new UsageError(`--fold must be an integer >= 0, got ${fold}`);
  return f.val !== undefined ? { valFold: { folds: f.folds as string, fold } } : {};
}

export const trainCommand: Command = {
  name: 'train',
  summary: 'train a classifier on simulated patterns (resumable runs with checkpoints)',
  usage: 'xrd train --out DIR [--task crystal-system|space-group] [--arch NAME | --init MODEL] [--steps N] [--batch B] [options]',
  description: [
    'Streams simulated patterns (synthetic crystals of all 230 space groups and/or CIF directories,',
    'with the preset\'s experimental effects drawn per pattern) or a dataset written by `xrd synth`',
    'into AdamW training on the GPU. DIR receives checkpoint.safetensors (weights, optimizer, state),',
    'config.json + weights.safetensors (a model directory), log.jsonl and curves.svg. Ctrl-C saves a',
    'checkpoint and stops; `--resume DIR` continues bit-for-bit (optionally with more --steps).',
    '`--init MODEL` starts a new run (its own schedule and data stream) from a model directory\'s weights;',
    'with another --task than MODEL\'s, every layer but the output layer starts from MODEL (transfer).',
    'Defaults: npcnn/scnn/mlp use the paper\'s recipe (batch 256, lr 1e-4, no decay or schedule);',
    'compact and compact-logq use batch 64, lr 1e-3, 100 warm-up steps, cosine decay, clipping at norm 5.',
  ].join('\n'),
  flags: [
    { name: 'out', alias: 'o', type: 'string', value: 'DIR', description: 'run directory (new or empty)' },
    { name: 'resume', type: 'string', value: 'DIR', description: 'continue the run in DIR from its last checkpoint' },
    { name: 'overwrite', type: 'boolean', description: 'replace a run already in --out' },
    { name: 'init', type: 'string', value: 'MODEL', description: 'start from this model directory\'s weights (its architecture; its task unless --task)' },
    { name: 'task', type: 'string', value: 'NAME', description: `${TASKS.join(' | ')} (default crystal-system)` },
    { name: 'arch', type: 'string', value: 'NAME', description: `${ARCHITECTURES.join(' | ')} (default compact)` },
    { name: 'steps', type: 'int', value: 'N', description: 'optimizer steps (default 1000)' },
    { name: 'batch', type: 'int', value: 'B', description: 'patterns per step (default 256 paper models, 64 compact)' },
    { name: 'micro-batch', type: 'int', value: 'M', description: 'patterns per GPU pass (default: the most that fit)' },
    { name: 'lr', type: 'number', value: 'X', description: 'peak learning rate' },
    { name: 'weight-decay', type: 'number', value: 'X', description: 'AdamW decoupled weight decay' },
    { name: 'warmup', type: 'int', value: 'N', description: 'linear warm-up steps' },
    { name: 'schedule', type: 'string', value: 'NAME', description: SCHEDULES.join(' | ') },
    { name: 'clip', type: 'number', value: 'X', description: 'gradient-norm limit (0: off)' },
    { name: 'seed', type: 'int', value: 'N', description: 'seed of weights, data and dropout (default 0)' },
    { name: 'preset', type: 'string', value: 'NAME', description: `effects of simulated patterns: ${PRESETS.join(', ')} (default realistic)` },
    ...PRIOR_FLAGS,
    { name: 'generator', type: 'string', value: 'NAME', description: "synthetic crystals: random (default) or library (site counts, volumes, elements from the AMCSD's statistics)" },
    { name: 'space-groups', type: 'string', value: 'LIST', description: 'synthetic space groups to draw, e.g. 1-230 or 14,62,225 (default all)' },
    { name: 'pool', type: 'int', value: 'N', description: 'synthetic structures kept in the pool (default 1024)' },
    { name: 'refresh', type: 'int', value: 'N', description: 'new synthetic structures per step (default 32; fewer: the pool gets memorised)' },
    { name: 'cif', type: 'string', value: 'DIRS', description: 'CIF directories (comma-separated) mixed into the stream' },
    { name: 'library', type: 'string', value: 'amcsd|FILE', description: 'structure library in the real pool: the shipped AMCSD (9,272 mineral structures) or a library file' },
    { name: 'library-exclude', type: 'string', value: 'FILE', description: 'library ids to leave out (one per line, first column; e.g. an unseen-mineral control)' },
    { name: 'library-weight', type: 'string', value: 'NAME', description: 'draw library entries per mineral (default) or per entry' },
    { name: 'cif-share', type: 'number', value: 'X', description: 'fraction of patterns from --cif and --library (default 0.5; 1: real structures only)' },
    { name: 'substitute', type: 'number', value: 'X', description: 'fraction of --cif patterns from element-substituted variants (same space group; default 0)' },
    { name: 'dataset', type: 'string', value: 'DIR', description: 'train on a dataset written by xrd synth instead' },
    { name: 'measured', type: 'string', value: 'DIR', description: 'labelled measured patterns mixed into the stream (souping)' },
    { name: 'measured-share', type: 'number', value: 'X', description: 'fraction of patterns from --measured (default 0.1; 1: measured only)' },
    { name: 'folds', type: 'string', value: 'FILE', description: 'folds file (xrd folds) of --measured/--val: leave --fold out of training, validate on it' },
    { name: 'fold', type: 'int', value: 'K', description: 'the held-out fold of --folds (default 0)' },
    { name: 'val', type: 'string', value: 'DIR', description: 'labelled pattern directory validated on too' },
    { name: 'val-size', type: 'int', value: 'N', description: 'held-out simulated validation patterns (default 256)' },
    { name: 'validate-every', type: 'int', value: 'N', description: 'steps between validations (default 100; 0: only at the end)' },
    { name: 'checkpoint-every', type: 'int', value: 'N', description: 'steps between checkpoints (default 100)' },
  ],
  examples: [
    'xrd train --out runs/cs-compact --steps 2000',
    'xrd train --task space-group --arch npcnn --steps 500000 --batch 256 --out runs/sg-npcnn',
    'xrd train --out runs/mix --cif /usr/share/avogadro2/crystals --cif-share 0.3 --val ../shared/data/rruff-dev',
    'xrd train --init models/crystal-system --library amcsd --cif-share 0.7 --val ../shared/data/rruff-dev --out runs/cs-amcsd',
    'xrd train --resume runs/cs-compact --steps 4000',
    'xrd train --init models/crystal-system --seed 1 --steps 4000 --out runs/cs-more',
    'xrd train --init models/crystal-system --task space-group --steps 3000 --out runs/sg-from-cs',
  ],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length) throw new UsageError(`xrd train takes no file arguments (got '${positionals[0]}'); see 'xrd train --help'`);
    const resume = f.resume as string | undefined;
    const out = (f.out as string | undefined) ?? resume;
    if (!out) throw new UsageError("xrd train needs --out DIR (or --resume DIR); see 'xrd train --help'");
    if (resume && f.out !== undefined && f.out !== resume) throw new UsageError(`--out ${String(f.out)} and --resume ${resume} name different runs; give only --resume`);
    if (resume && f.overwrite) throw new UsageError('--resume and --overwrite contradict each other; give one');
    if (resume && f.init !== undefined) throw new UsageError('--resume continues a run from its own checkpoint; --init starts a new one from a model (give one)');
    const positive = (name: string): number | undefined => {
      const v = f[name] as number | undefined;
      if (v !== undefined && !(v >= 1)) throw new UsageError(`--${name} must be a positive integer, got ${v}`);
      return v;
    };
    if (resume) {
      const fixed = Object.keys(f).filter((k) => f[k] !== undefined && !['out', 'resume', 'steps', 'arch', 'task'].includes(k));
      if (fixed.length) throw new UsageError(`a resumed run keeps its settings; only --steps may change (remove --${fixed[0]})`);
    }
    const cif = f.cif as string | undefined;
    const real = (f.cif ?? f.library) as string | undefined;
    if (f.library === undefined && (f['library-exclude'] !== undefined || f['library-weight'] !== undefined)) {
      throw new UsageError('--library-exclude and --library-weight apply to --library; give --library amcsd (or a library file) too');
    }
    const options: Omit<TrainOptions, 'engine'> = {
      out,
      resume: !!resume,
      overwrite: !!f.overwrite,
      architecture: choice('arch', f.arch, ARCHITECTURES) as Architecture | undefined,
      task: choice('task', f.task, TASKS) as Task | undefined,
      steps: positive('steps'),
      batch: positive('batch'),
      microBatch: positive('micro-batch'),
      lr: f.lr as number | undefined,
      weightDecay: f['weight-decay'] as number | undefined,
      warmup: f.warmup as number | undefined,
      schedule: choice('schedule', f.schedule, SCHEDULES) as Schedule | undefined,
      clip: f.clip as number | undefined,
      seed: f.seed as number | undefined,
      valDir: f.val as string | undefined,
      valSize: f['val-size'] as number | undefined,
      validateEvery: f['validate-every'] as number | undefined,
      checkpointEvery: positive('checkpoint-every'),
      ...(f.init !== undefined ? { init: f.init as string } : {}),
    };
    if (!resume) {
      const prior = priorFromFlags(f);
      options.data = {
        ...(f.preset !== undefined ? { effects: presetOf(f.preset as string) } : {}),
        ...(prior !== undefined ? { prior } : {}),
        ...(f.generator !== undefined ? { generator: choice('generator', f.generator, GENERATORS) } : {}),
        ...(f['space-groups'] !== undefined ? { spaceGroups: parseSpaceGroups(f['space-groups'] as string) } : {}),
        ...(f.pool !== undefined ? { poolSize: f.pool as number } : {}),
        ...(f.refresh !== undefined ? { refreshPerBatch: f.refresh as number } : {}),
        ...(cif ? { cifDirs: cif.split(',').filter((s) => s) } : {}),
        ...(f.library !== undefined ? { library: libraryOption(f) } : {}),
        ...(f['cif-share'] !== undefined ? { cifShare: f['cif-share'] as number } : {}),
        ...(f.substitute !== undefined ? { substituteShare: unitFraction('substitute', f.substitute as number, real) } : {}),
        ...(f.dataset !== undefined ? { dataset: f.dataset as string } : {}),
        ...(f.measured !== undefined ? { measured: measuredOption(f) } : {}),
      };
      Object.assign(options, foldOptions(f));
    }
    return runTraining(options, io);
  },
};

/** Runs train() with progress lines, Ctrl-C handling and the final summary; resolves to the exit code. */
async function runTraining(options: Omit<TrainOptions, 'engine'>, io: CliIO): Promise<number> {
  const out = options.out;
  const { createEngine } = await import('../engine/engine.ts');
  const { train, TrainOptionsError } = await import('../npcnn/train.ts');
  const engine = await createEngine();
  const controller = new AbortController();
  let progress: TrainProgress | null = null;
  // Ctrl-C (SIGINT), a cluster's time limit or `docker stop` (SIGTERM) and a closed terminal
  // (SIGHUP) all stop after the current step with a checkpoint; the exit code is 128 + the
  // signal's number (130, 143, 129). A second signal quits at once without saving.
  const SIGNALS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  let signalCode = 130;
  const onSignal = (name: keyof typeof SIGNALS): void => {
    if (controller.signal.aborted) process.exit(SIGNALS[name]);
    signalCode = SIGNALS[name];
    controller.abort();
    const what = name === 'SIGINT' ? 'Ctrl-C' : name;
    (progress ?? new TrainProgress(io, 0)).line(`xrd train: ${what}: stopping after this step and saving a checkpoint (${what === 'Ctrl-C' ? 'Ctrl-C' : 'the signal'} again quits without saving)`);
  };
  const handlers = (Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]).map((name) => [name, () => onSignal(name)] as const);
  for (const [name, h] of handlers) process.on(name, h);
  let stopped = false;
  try {
    for await (const e of train({ ...options, engine, signal: controller.signal })) {
      if (e.type === 'start') {
        progress = new TrainProgress(io, e.steps);
        const m = e.model;
        progress.line(
          `${e.resumed ? `resuming ${out} at step ${e.step}` : `${options.init ? `starting from ${options.init}${e.newOutput ? ` (all but the output layer, new for ${m.classes.length} classes)` : ''}:` : 'training'} ${m.architecture} (${(e.parameters / 1e6).toFixed(2)}M parameters)`} for ${m.task} on ${e.source}; ` +
            `${e.steps} steps, ${e.microBatch} patterns per GPU pass, on ${engine.info.description}`,
        );
      } else if (e.type === 'step') progress!.step(e);
      else if (e.type === 'validation') progress!.line(`  validation at step ${e.step} on ${e.set}: top-1 ${e.top1.toFixed(3)}, loss ${e.loss.toFixed(3)} (${e.n} patterns)`);
      else if (e.type === 'stopped') {
        stopped = true;
        progress!.line(`stopped at step ${e.step}; checkpoint saved in ${e.dir}; continue with: xrd train --resume ${e.dir}`);
      } else if (e.type === 'done') io.stdout.write(`trained ${e.step} steps in ${duration(e.seconds)}; model, checkpoint, log.jsonl and curves.svg in ${e.dir}\n`);
    }
  } catch (e) {
    if (e instanceof TrainOptionsError) throw new UsageError(e.message);
    throw e;
  } finally {
    for (const [name, h] of handlers) process.off(name, h);
    engine.destroy();
  }
  return stopped ? signalCode : 0;
}

export const finetuneCommand: Command = {
  name: 'finetune',
  summary: 'adapt a trained model to measured patterns (fine-tuning, optionally mixed with simulated ones)',
  usage: 'xrd finetune --model DIR --data DIR --out DIR [--folds FILE --fold K] [--steps N] [--lr X] [--freeze-conv] [--mix X]',
  description: [
    'Continues training a model (its config and weights) on labelled measured patterns: few steps,',
    'a low learning rate, optionally with the convolutions frozen (--freeze-conv) or with a share of',
    'simulated patterns mixed in (--mix 0.5). With --folds/--fold (xrd folds), the files of that fold',
    'are left out of training and validated on, so the reported accuracy is on files the model did',
    'not train on. The output is a run directory like xrd train\'s (--resume works).',
  ].join('\n'),
  flags: [
    { name: 'model', alias: 'm', type: 'string', value: 'DIR', description: 'the model to start from' },
    { name: 'data', type: 'string', value: 'DIR', description: 'labelled measured patterns' },
    { name: 'out', alias: 'o', type: 'string', value: 'DIR', description: 'run directory (new or empty)' },
    { name: 'overwrite', type: 'boolean', description: 'replace a run already in --out' },
    { name: 'folds', type: 'string', value: 'FILE', description: 'folds file of --data (xrd folds)' },
    { name: 'fold', type: 'int', value: 'K', description: 'held-out fold (default 0)' },
    { name: 'steps', type: 'int', value: 'N', description: 'optimizer steps', default: 200 },
    { name: 'batch', type: 'int', value: 'B', description: 'patterns per step', default: 32 },
    { name: 'lr', type: 'number', value: 'X', description: 'peak learning rate (cosine decay, 20 warm-up steps)', default: 3e-4 },
    { name: 'freeze-conv', type: 'boolean', description: 'leave the convolution kernels as they are' },
    { name: 'mix', type: 'number', value: 'X', description: 'fraction of simulated patterns per batch (0: measured only)', default: 0 },
    { name: 'preset', type: 'string', value: 'NAME', description: `effects of the mixed-in simulated patterns: ${PRESETS.join(', ')}`, default: 'realistic' },
    { name: 'seed', type: 'int', value: 'N', description: 'seed of data order and dropout', default: 0 },
    { name: 'validate-every', type: 'int', value: 'N', description: 'steps between validations', default: 50 },
  ],
  examples: [
    'xrd folds ../shared/data/rruff-dev -o rruff-folds.json',
    'xrd finetune --model runs/cs-compact --data ../shared/data/rruff-dev --folds rruff-folds.json --fold 0 --out runs/ft0',
  ],
  async run(args, io: CliIO) {
    const { flags: f, positionals } = args;
    if (positionals.length) throw new UsageError(`xrd finetune takes no file arguments (got '${positionals[0]}'); see 'xrd finetune --help'`);
    for (const need of ['model', 'data', 'out']) if (f[need] === undefined) throw new UsageError(`xrd finetune needs --${need}; see 'xrd finetune --help'`);
    const mix = f.mix as number;
    if (!(mix >= 0 && mix < 1)) throw new UsageError(`--mix must be in [0, 1), got ${mix}`);
    const steps = f.steps as number;
    if (!(steps >= 1)) throw new UsageError(`--steps must be a positive integer, got ${steps}`);
    const batch = f.batch as number;
    if (!(batch >= 1)) throw new UsageError(`--batch must be a positive integer, got ${batch}`);
    const fold = foldOptions({ ...f, val: f.data });
    return runTraining(
      {
        out: f.out as string,
        overwrite: !!f.overwrite,
        init: f.model as string,
        steps,
        batch,
        lr: f.lr as number,
        warmup: Math.min(20, steps - 1),
        schedule: 'cosine',
        clip: 5,
        weightDecay: 0.01,
        seed: f.seed as number,
        validateEvery: f['validate-every'] as number,
        checkpointEvery: Math.max(1, steps),
        valDir: f.data as string,
        ...fold,
        ...(f['freeze-conv'] ? { freeze: 'conv' as const } : {}),
        data: { effects: presetOf(f.preset as string), measured: measuredOption({ ...f, measured: f.data, 'measured-share': 1 - mix }, 1) },
      },
      io,
    );
  },
};
