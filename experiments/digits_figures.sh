#!/usr/bin/env bash
# Fig. 4 (units sweep), Fig. 5 (per-class angles vs alpha), Table 4 (class count) and the 2-D feature
# figure, all on scikit-learn's bundled digits (offline, CPU).
#
# Command (repository root, after `make venv`):  bash experiments/digits_figures.sh
# BACKEND=jax runs them on Keras-JAX (MarginClassifier.fit; the figures in docs were made so).
# Writes runs/digits_{units_sweep,alpha_sweep,class_sweep,features_2d}/ with summary.json and PNGs;
# about 12 min on 2 CPU cores with BACKEND=jax.
# The same sweeps on MNIST / CIFAR: replace --dataset digits by --dataset mnist|cifar10|cifar100
# (GPU-sized; not run here). Hardware and results: docs/reproduction.md, "Results".
set -euo pipefail
bin=${TF_WSOFTMAX_BIN:-.venv/bin/tf-wsoftmax}
out=${OUT:-runs}
common=(--backend "${BACKEND:-tensorflow}" --quiet)
$bin units-sweep --dataset digits --epochs 20 --pretrain-epochs 5 --feature-dims 2 5 9 32 90 900 \
  --alphas 1.0 --out $out/digits_units_sweep "${common[@]}"
$bin alpha-sweep --dataset digits --epochs 20 --pretrain-epochs 5 --feature-dim 9 --alphas 0.5 1.0 1.5 \
  --out $out/digits_alpha_sweep "${common[@]}"
$bin class-sweep --dataset digits --epochs 20 --pretrain-epochs 5 --feature-dim 9 --classes-list 5 6 7 8 9 10 \
  --alpha 1.0 --out $out/digits_class_sweep "${common[@]}"
$bin features-2d --dataset digits --backbone small --epochs 30 --pretrain-epochs 10 \
  --out $out/digits_features_2d "${common[@]}"
