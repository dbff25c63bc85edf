#!/usr/bin/env bash
# Seeded Fashion-MNIST study (full 60k train / 10k test), default W-Softmax gradient ("stop").
#
# Command (repository root, after `make venv`; Debian: apt-get install dataset-fashion-mnist):
#   bash experiments/fashion_mnist_study.sh "0 1 2 3 4" 2
# Arguments: seeds (default "0 1 2 3 4"), epochs (default 2). Rows: softmax (biased Dense),
# normalised softmax (alpha 0), W-Softmax alpha 0.5 / 1 / 1.5 (Algorithm 1: max(1, epochs // 4) softmax
# epochs first, then W-Softmax), CosFace and ArcFace (s = 16, m = 0.35 / 0.5). Every row
# shares the seeds (same initial backbone weights and batch order per seed). Each run writes
# runs/fashion_mnist_study/<row>_s<seed>/ and is resumable (rerun the command after a kill).
# Seeds are the outer loop, so a partial study holds whole seeds. Summarise (paired differences
# to softmax with 95 % intervals over seeds) with:
#   .venv/bin/python experiments/summarize.py runs/fashion_mnist_study --paired softmax
# Model: backbone "tiny" (conv 3x3 16 -> pool -> conv 3x3 32 -> pool, PReLU + BN, FC 32),
# paper optimiser (SGD momentum 0.9, lr 0.01 x0.9 / 6000 steps, weight decay 5e-4), batch 50.
# Hardware and result: docs/reproduction.md, "Seeded Fashion-MNIST study".
set -euo pipefail
seeds=${1:-"0 1 2 3 4"}
epochs=${2:-2}
bin=${TF_WSOFTMAX_BIN:-.venv/bin/tf-wsoftmax}
out=${OUT:-runs/fashion_mnist_study}
common=(--dataset fashion_mnist --backbone tiny --epochs "$epochs" --quiet)
for seed in $seeds; do
  $bin train "${common[@]}" --seed "$seed" --loss softmax --out "$out/softmax_s$seed"
  $bin train "${common[@]}" --seed "$seed" --loss normalized_softmax --out "$out/normalized_softmax_s$seed"
  for alpha in 0.5 1.0 1.5; do
    $bin train "${common[@]}" --seed "$seed" --loss wsoftmax --alpha "$alpha" --out "$out/wsoftmax_a${alpha}_s$seed"
  done
  $bin train "${common[@]}" --seed "$seed" --loss cosface --out "$out/cosface_s$seed"
  $bin train "${common[@]}" --seed "$seed" --loss arcface --out "$out/arcface_s$seed"
done
