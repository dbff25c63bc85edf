"""Softmax vs W-Softmax (alpha 0.5 / 1 / 1.5) on scikit-learn's digits, several seeds.

Command (repository root, after `make venv`):
    .venv/bin/python experiments/digits_alpha_sweep.py --seeds 0 1 2 --json runs/digits_alpha_sweep.json

Data: sklearn.datasets.load_digits (1,797 8x8 images), stratified 80/20
split per seed. Model: `build_small_cnn(feature_dim=9)` (K - 1 units),
compile/fit, paper optimiser (SGD momentum 0.9, lr 0.01), weight decay 5e-4,
batch 50, 20 epochs; W-Softmax = 5 epochs alpha 0 then 15 epochs alpha.
Hardware and result: see the README's "Results" section, which quotes the
table this script printed.
"""

import argparse
import json
import os

import numpy as np

from tf_wsoftmax.data import load_digits_split
from tf_wsoftmax.demo import DemoConfig
from tf_wsoftmax.demo import run_one


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.5, 1.0, 1.5])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--pretrain-epochs", type=int, default=5)
    parser.add_argument("--json", default="runs/digits_alpha_sweep.json")
    args = parser.parse_args()

    records = []
    for seed in args.seeds:
        train, test = load_digits_split(seed=seed)
        runs = [("softmax", 0.0)] + [("wsoftmax", a) for a in args.alphas]
        for loss, alpha in runs:
            config = DemoConfig(
                epochs=args.epochs, pretrain_epochs=args.pretrain_epochs, alpha=alpha, seed=seed
            )
            result = run_one(loss, config, train, test)
            result.update(alpha=alpha, seed=seed)
            records.append(result)
            print(f"seed {seed} {loss} alpha={alpha}: test {result['test_accuracy']:.4f} "
                  f"angle {result['mean_angle_test']:.2f}", flush=True)

    print("\n| loss | alpha | test acc mean +- std | mean intra-class angle test (deg) | seeds |")
    print("|---|---|---|---|---|")
    for loss, alpha in [("softmax", 0.0)] + [("wsoftmax", a) for a in args.alphas]:
        rows = [r for r in records if r["loss"] == loss and r["alpha"] == alpha]
        acc = np.array([r["test_accuracy"] for r in rows])
        ang = np.array([r["mean_angle_test"] for r in rows])
        print(f"| {loss} | {alpha if loss == 'wsoftmax' else '-'} | {acc.mean():.4f} +- {acc.std():.4f} | "
              f"{ang.mean():.2f} +- {ang.std():.2f} | {len(rows)} |")
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"args": vars(args), "records": records}, f, indent=2)


if __name__ == "__main__":
    main()
