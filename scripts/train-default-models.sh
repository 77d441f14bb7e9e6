#!/usr/bin/env bash
# Trains the shipped models (models/crystal-system, models/space-group) with the project's own
# `xrd train`, then evaluates them as their model cards report. Needs Debian's libavogadro-data
# (public-domain crystal structures, /usr/share/avogadro2/crystals) and ../shared/data for the
# evaluation. On a 2-core machine with lavapipe the space-group training takes about 40 minutes and
# the crystal-system one about 1.5 hours alone (both run at once). Runs resume where they stopped:
# run the script again.
#
#   bash scripts/train-default-models.sh            train (or resume), then evaluate
#   SKIP_TRAIN=1 bash scripts/train-default-models.sh   evaluate the models in models/ only
set -euo pipefail
cd "$(dirname "$0")/.."
CIF=/usr/share/avogadro2/crystals
DATA=../shared/data
XRD="node bin/xrd.js"
[ -d "$CIF" ] || { echo "needs Debian's libavogadro-data ($CIF): sudo apt-get install libavogadro-data" >&2; exit 1; }

# The recipe (see models/README.md): compact-logq for crystal systems, compact for space groups
# (both BatchNorm, log intensity), batch 64, AdamW 2e-3,
# 200 warm-up steps then cosine decay, clipping at norm 5; realistic effects drawn per pattern;
# synthetic crystals of all 230 groups (uniform prior, a pool of 1024 structures with 32 new ones
# per step) mixed with the Avogadro structures (30 % of patterns). rruff-dev is only watched
# (--val), never trained on.
recipe=(--batch 64 --lr 2e-3 --warmup 200 --preset realistic --pool 1024 --refresh 32
  --cif "$CIF" --cif-share 0.3 --validate-every 250 --checkpoint-every 100 --val "$DATA/rruff-dev")

train() { # task steps run-dir arch
  if [ -f "$3/checkpoint.safetensors" ]; then $XRD train --resume "$3" --steps "$2"; else $XRD train --out "$3" --task "$1" --steps "$2" --arch "$4" "${recipe[@]}"; fi
}

if [ -z "${SKIP_TRAIN:-}" ]; then
  # crystal system: one 6000-step cosine schedule (384k patterns)
  train crystal-system 6000 runs/cs-logq-a compact-logq > runs/cs-logq-a.log 2>&1 &
  cs=$!
  train space-group 2500 runs/sg-compact-a compact > runs/sg-compact-a.log 2>&1 &
  sg=$!
  wait $cs $sg
  for m in crystal-system:cs-logq-a space-group:sg-compact-a; do
    mkdir -p "models/${m%%:*}"
    cp "runs/${m#*:}/config.json" "runs/${m#*:}/weights.safetensors" "models/${m%%:*}/"
  done
fi

# Evaluation: rruff-dev zero-shot and k-fold (near-duplicates kept together), reference-xrd, and
# the reference-xrd cubic structures with their cells scaled 0.5x-1.5x.
mkdir -p runs/eval
[ -f runs/eval/rruff-folds.json ] || $XRD folds "$DATA/rruff-dev" --k 5 -o runs/eval/rruff-folds.json
mkdir -p runs/eval/cubic-scaled
cubics=$(/usr/bin/python3 -c "import json; print(' '.join('$DATA/reference-xrd/%s.cif' % e['name'] for e in json.load(open('$DATA/reference-xrd/index.json')) if e['crystal_system'] == 'cubic'))")
for s in 0.5 0.75 1.25 1.5; do
  $XRD simulate $cubics -o "runs/eval/scaled-$s" --scale $s --preset paper --seed 1 > /dev/null
  for f in runs/eval/scaled-$s/*.xy; do cp "$f" "runs/eval/cubic-scaled/$(basename "$f" .xy)-x$s.xy"; done
done
# Fresh synthetic crystals (uniform space groups) that no training run draws (its own seed).
[ -f runs/eval-sets/synth-uniform/dataset.json ] || $XRD synth --count 1024 --preset realistic --seed 999 -o runs/eval-sets/synth-uniform > /dev/null
for task in crystal-system space-group; do
  for set in rruff-dev:$DATA/rruff-dev reference-xrd:$DATA/reference-xrd cubic-scaled:runs/eval/cubic-scaled synth-uniform:runs/eval-sets/synth-uniform; do
    $XRD eval --model "models/$task" "${set#*:}" --json --report "runs/eval/$task-${set%%:*}.html" > "runs/eval/$task-${set%%:*}.json"
  done
  npx tsx scripts/kfold-report.ts --model "models/$task" --data "$DATA/rruff-dev" --folds runs/eval/rruff-folds.json --out "runs/eval/kfold-$task"
done
