#!/usr/bin/env bash
# Tables 1-3 of the paper (MNIST, CIFAR10, CIFAR100): softmax, L-Softmax and W-Softmax alpha 0.5 / 1 / 1.5.
#
# NOT RUN in this repository: on the 2-core CPU machine one epoch of the released MNIST network
# (4.1M parameters) takes about 6 minutes and the CIFAR nets are larger; these need a GPU.
# W-Softmax uses the default bias_gradient "stop". Command (repository root):
#   bash experiments/paper_tables_gpu.sh [EPOCHS]
# Data: tensorflow-datasets downloads mnist / cifar10 / cifar100 (or pass --data-dir with the IDX /
# CIFAR python folders). Paper settings: batch 50 (MNIST) / 256 (CIFAR), lr 0.01 x0.9 every 6000
# steps, momentum 0.9, weight decay 5e-4; CIFAR with flip + pad-crop augmentation; W-Softmax after
# softmax pre-training. Summarise with: .venv/bin/python experiments/summarize.py runs/paper_<dataset>
set -euo pipefail
epochs=${1:-100}
pre=$((epochs / 4))
bin=.venv/bin/tf-wsoftmax
for dataset in mnist cifar10 cifar100; do
  if [ "$dataset" = mnist ]; then extra=(--batch-size 50); else extra=(--batch-size 256 --augment); fi
  out=runs/paper_$dataset
  $bin train --dataset $dataset "${extra[@]}" --epochs "$epochs" --jit --loss softmax --out $out/softmax
  # L-Softmax: the released margin and lambda schedule of each dataset (MNIST m=4, CIFAR m=2)
  $bin train --dataset $dataset "${extra[@]}" --epochs "$epochs" --jit --loss lsoftmax --out $out/lsoftmax
  for alpha in 0.5 1.0 1.5; do
    $bin train --dataset $dataset "${extra[@]}" --epochs "$epochs" --jit --loss wsoftmax --alpha $alpha \
      --pretrain-epochs "$pre" --out $out/wsoftmax_a$alpha
  done
done
