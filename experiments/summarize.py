"""Summarise a folder of runs (each with metrics.json) as a Markdown table, mean +- std over seeds.

Command:
    .venv/bin/python experiments/summarize.py runs/fashion_mnist [--json runs/fashion_mnist/summary.json]

Runs are grouped by their config without the seed (loss, alpha, units, classes, dataset, epochs).
"""

import argparse
import glob
import json
import os

import numpy as np

GROUP_KEYS = ("dataset", "loss", "alpha", "units", "classes", "epochs", "pretrain_epochs", "backbone")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--json")
    args = parser.parse_args()

    groups = {}
    for path in sorted(glob.glob(os.path.join(args.folder, "*", "metrics.json"))):
        with open(path) as f:
            metrics = json.load(f)
        config = metrics["config"]
        key = tuple((k, config.get(k)) for k in GROUP_KEYS if not (k == "alpha" and config["loss"] != "wsoftmax"))
        groups.setdefault(key, []).append(metrics)

    rows = []
    print("| dataset | loss | alpha | epochs | test acc (mean +- std) | mean angle test (deg) | seeds | hardware |")
    print("|---|---|---|---|---|---|---|---|")
    for key, runs in groups.items():
        config = dict(key)
        acc = np.array([r["test_accuracy"] for r in runs])
        ang = np.array([r["mean_angle_test"] for r in runs])
        seeds = sorted(r["config"]["seed"] for r in runs)
        row = dict(config, test_accuracy_mean=acc.mean(), test_accuracy_std=acc.std(),
                   mean_angle_test_mean=ang.mean(), mean_angle_test_std=ang.std(), seeds=seeds,
                   hardware=runs[0]["hardware"])
        rows.append(row)
        print(f"| {config['dataset']} | {config['loss']} | {config.get('alpha', '-')} | {config['epochs']} | "
              f"{100 * acc.mean():.2f} +- {100 * acc.std():.2f} | {ang.mean():.2f} +- {ang.std():.2f} | "
              f"{seeds} | {runs[0]['hardware']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=float)


if __name__ == "__main__":
    main()
