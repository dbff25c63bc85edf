#!/bin/bash
# Before / after timing of the single-objective change (docs/benchmarks.md, issue 16), in
# interleaved rounds on one machine. Usage, from the repository root:
#   git worktree add /tmp/old 8b52626
#   bash experiments/bench_single_objective/run.sh /tmp/old runs/bench_single_objective
# Round r runs `bench heads` and head_step.py (a head-dominated TrainStep) with the old tree, then
# with this one; report the min over rounds of each round's min and the median of the medians.
set -u
OLD=$1
OUT=$2
NEW=$(pwd)
PY=${PYTHON:-$NEW/.venv/bin/python}
mkdir -p "$OUT"
export TF_CPP_MIN_LOG_LEVEL=3
for round in 1 2 3; do
  for tree in old new; do
    root=$([ "$tree" = old ] && echo "$OLD" || echo "$NEW")
    # One round per invocation in both trees (the old `bench heads` has no --rounds), as measured.
    rounds=$([ "$tree" = old ] && echo "" || echo "--rounds 1")
    (cd "$root" && PYTHONPATH="$root" "$PY" -m tf_wsoftmax.app.cli bench heads --classes 10575 --dim 512 \
      --batch 256 --jit both --repeats 20 $rounds --json "$OUT/heads_${tree}_${round}.json" > "$OUT/heads_${tree}_${round}.log" 2>&1)
    (cd "$root" && PYTHONPATH="$root" "$PY" "$NEW/experiments/bench_single_objective/head_step.py" \
      softmax,normalized_softmax,wsoftmax,cosface,arcface,lsoftmax,center > "$OUT/step_${tree}_${round}.json" 2>/dev/null)
  done
done
