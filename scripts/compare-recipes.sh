#!/usr/bin/env bash
# Equal-budget recipe comparison (issue #11): the same model, seed, steps and batch for each recipe,
# each scored afterwards on the same fixed sets: 1024 fresh synthetic crystals (realistic effects,
# uniform space groups; never trained on) and rruff-dev (measured; only ever evaluated).
#
#   bash scripts/compare-recipes.sh [STEPS] RECIPE...     e.g.  bash scripts/compare-recipes.sh 700 uniform balanced avogadro
#
# Recipes: uniform, balanced (--prior system-balanced), avogadro (--prior-from the Avogadro
# library), and any of them with a +sub suffix (--substitute 0.5). Runs land in
# runs/compare/<recipe>; run the script again to resume. Needs libavogadro-data and ../shared/data.
set -uo pipefail
cd "$(dirname "$0")/.."
XRD="node bin/xrd.js"
CIF=/usr/share/avogadro2/crystals
DATA=../shared/data
OUT=runs/compare
STEPS=${1:?give the steps, then the recipes}
shift
mkdir -p "$OUT"
SET=runs/eval-sets/synth-uniform
[ -f $SET/dataset.json ] || $XRD synth --count 1024 --preset realistic --seed 999 -o $SET > /dev/null
common=(--arch compact --task crystal-system --batch 64 --lr 2e-3 --warmup 100 --steps "$STEPS" --preset realistic
  --cif "$CIF" --cif-share 0.3 --validate-every $((STEPS / 2)) --checkpoint-every 100 --val "$DATA/rruff-dev" --seed 0)
for recipe in "$@"; do
  extra=()
  case ${recipe%+sub} in
    uniform) extra+=(--prior uniform) ;;
    balanced) extra+=(--prior system-balanced) ;;
    avogadro) extra+=(--prior-from "$CIF") ;;
    *) echo "unknown recipe $recipe" >&2; exit 2 ;;
  esac
  [[ $recipe == *+sub ]] && extra+=(--substitute 0.5)
  run=$OUT/$recipe
  if [ -f "$run/checkpoint.safetensors" ]; then $XRD train --resume "$run" --steps "$STEPS" > "$run.log" 2>&1
  else $XRD train --out "$run" "${common[@]}" "${extra[@]}" > "$run.log" 2>&1; fi
  $XRD eval --model "$run" $SET --json > "$run-synth.json" 2>/dev/null
  $XRD eval --model "$run" "$DATA/rruff-dev" --json > "$run-rruff.json" 2>/dev/null
done
# The table: top-1 on both sets, macro-F1 and the minority systems' recall on rruff-dev.
/usr/bin/python3 - "$OUT" "$@" <<'PY'
import json, sys
out, recipes = sys.argv[1], sys.argv[2:]
print('| recipe | synthetic top-1 | rruff-dev top-1 | rruff-dev macro-F1 | triclinic / monoclinic recall |')
print('|---|---|---|---|---|')
for r in recipes:
    s = json.load(open(f'{out}/{r}-synth.json')); d = json.load(open(f'{out}/{r}-rruff.json'))
    rec = {c['label']: c['recall'] for c in d['per_class']}
    print(f"| {r} | {s['top1']:.3f} | {d['top1']:.3f} | {d['macro_f1']:.3f} | {rec['triclinic']:.2f} / {rec['monoclinic']:.2f} |")
PY
