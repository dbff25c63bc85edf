#!/usr/bin/env bash
# W-Softmax's backward modes side by side (issue 9): bias_gradient "stop" vs
# "full" (+ fixed simplex W, + the biased-Dense softmax), alpha in
# {0, 0.5, 1, 1.5}, 3 seeds. Writes summary.md / summary.json / angles.png
# into each --out folder (docs/gradient_modes.md quotes them).
#
#   bash experiments/gradient_modes.sh digits         # ~12 min on 2 CPU cores (TensorFlow)
#   bash experiments/gradient_modes.sh fashion_mnist  # the paper's MNIST net: hours on CPU
#
# digits: sklearn's 1,797 8x8 digits, small CNN with 9 feature units (K - 1),
# 20 epochs (5 of them softmax, Algorithm 1), batch 50.
# fashion_mnist: Debian's dataset-fashion-mnist IDX files (60k/10k), the
# L-Softmax MNIST network as released (FC 512), EPOCHS epochs (default 2,
# a quarter of them softmax, at least 1), batch 50. SEEDS, ALPHAS and ROW_GROUPS
# (softmax stop full simplex) narrow it to what a CPU session can run.
set -euo pipefail
cd "$(dirname "$0")/.."
TF_WSOFTMAX=${TF_WSOFTMAX:-.venv/bin/tf-wsoftmax}
case "${1:-digits}" in
  digits)
    $TF_WSOFTMAX gradient-modes --dataset digits --feature-dim 9 --epochs 20 --pretrain-epochs 5 \
      --seeds 0 1 2 --alphas 0 0.5 1 1.5 --out runs/gradient_modes_digits --quiet
    ;;
  fashion_mnist)
    $TF_WSOFTMAX gradient-modes --dataset fashion_mnist --data-dir /usr/share/datasets/fashion-mnist \
      --no-download --epochs "${EPOCHS:-2}" --seeds ${SEEDS:-0 1 2} --alphas ${ALPHAS:-0 0.5 1 1.5} \
      --groups ${ROW_GROUPS:-softmax stop full simplex} \
      --out "runs/gradient_modes_fashion_mnist_e${EPOCHS:-2}" --quiet
    ;;
  *) echo "usage: $0 digits|fashion_mnist" >&2; exit 2 ;;
esac
