// --prior NAME / --prior-from DIR, shared by `xrd synth` and `xrd train`: how often each space
// group is drawn for synthetic crystals.
import { PRIORS, priorWeights, spaceGroupCounts, type DataOptions, type SpaceGroupPrior } from '../npcnn/data.ts';
import { readLibrary } from '../library/library.ts';
import { libraryStatistics } from '../library/statistics.ts';
import { UsageError, type FlagSpec, type FlagValue } from './args.ts';

export const PRIOR_FLAGS: FlagSpec[] = [
  { name: 'prior', type: 'string', value: 'NAME', description: `space groups of synthetic crystals: ${PRIORS.join(', ')} (default uniform)` },
  { name: 'prior-from', type: 'string', value: 'DIR', description: "space-group prior from the structures (CIFs) or labelled patterns in DIR, counts + 1; 'amcsd': the AMCSD's, every mineral once" },
];

/** The prior the flags ask for (undefined: none given, i.e. uniform). */
export function priorFromFlags(f: Record<string, FlagValue | undefined>): DataOptions['prior'] {
  if (f.prior !== undefined && f['prior-from'] !== undefined) throw new UsageError('give --prior or --prior-from, not both');
  if (f.prior !== undefined) {
    if (!PRIORS.includes(f.prior as SpaceGroupPrior)) throw new UsageError(`--prior must be one of ${PRIORS.join(', ')}, got '${String(f.prior)}'`);
    return f.prior as SpaceGroupPrior;
  }
  if (f['prior-from'] !== undefined) {
    const dir = f['prior-from'] as string;
    if (dir === 'amcsd') {
      const lib = readLibrary();
      return { counts: libraryStatistics(lib).spaceGroupCounts, smoothing: 1, source: `AMCSD (${lib.entries.length} structures, every mineral counted once)` };
    }
    // observed counts with add-one smoothing, so that no group is impossible (recorded with its source)
    const { counts, n, kind } = spaceGroupCounts(dir);
    return { counts, smoothing: 1, source: `${dir} (${n} ${kind})` };
  }
  return undefined;
}

/** Weight of each space group 1..230 (index = number - 1) under a prior. */
export function spaceGroupWeights(prior: DataOptions['prior']): number[] {
  if (prior === undefined) return priorWeights('uniform');
  if (typeof prior === 'string') return priorWeights(prior);
  return prior.counts.map((c) => c + prior.smoothing);
}
