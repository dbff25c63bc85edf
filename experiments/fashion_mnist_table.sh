#!/usr/bin/env bash
# Fashion-MNIST (full: 60k train / 10k test) softmax vs W-Softmax alpha 0.5 / 1 / 1.5, several seeds.
#
# Command (repository root, after `make venv`; Debian: apt-get install dataset-fashion-mnist):
#   bash experiments/fashion_mnist_table.sh "0 1" 5
# Arguments: seeds (default "0 1"), epochs (default 5). Each run writes runs/fashion_mnist/<loss>_s<seed>/
# and is resumable (rerun the same command after a kill). Summarise with:
#   .venv/bin/python experiments/summarize.py runs/fashion_mnist
# Model: backbone "small" (2 stages of 2 conv 3x3, 32 / 64 filters, PReLU + BN, FC 32), paper
# optimiser, batch 50; W-Softmax = 2 softmax epochs (alpha 0) then W-Softmax.
# Hardware and result: docs/reproduction.md, "Results".
set -euo pipefail
seeds=${1:-"0 1"}
epochs=${2:-5}
bin=.venv/bin/tf-wsoftmax
common=(--dataset fashion_mnist --backbone small --feature-dim 32 --epochs "$epochs" --quiet)
for seed in $seeds; do
  $bin train "${common[@]}" --seed "$seed" --loss softmax --out "runs/fashion_mnist/softmax_s$seed"
  for alpha in 0.5 1.0 1.5; do
    $bin train "${common[@]}" --seed "$seed" --loss wsoftmax --alpha "$alpha" --pretrain-epochs 2 \
      --out "runs/fashion_mnist/wsoftmax_a${alpha}_s$seed"
  done
done
