"""Summarise a folder of runs (each with metrics.json) as a Markdown table, mean +- std over seeds.

Command:
    .venv/bin/python experiments/summarize.py runs/fashion_mnist [--json runs/fashion_mnist/summary.json]

Runs are grouped by their whole config except the seed and the settings that do not change what is
trained (checkpointing, XLA, where the data was read from).
"""

import argparse
import glob
import json
import os

import numpy as np

IGNORED_KEYS = ("seed", "checkpoint_every", "jit_compile", "data_dir", "download")


def describe_loss(config):
    """The loss hyperparameters of a run's config (older runs kept `alpha` at the top level)."""
    params = config.get("loss_params")
    if params is None:
        old = ("alpha", "bias_gradient", "fixed_simplex") if config.get("loss") == "wsoftmax" else ()
        params = {k: config[k] for k in old if k in config}
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "-"


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
        key = json.dumps({k: v for k, v in config.items() if k not in IGNORED_KEYS}, sort_keys=True)
        groups.setdefault(key, []).append(metrics)

    rows = []
    print("| dataset | loss | hyperparameters | epochs | test acc (mean +- std) | mean angle test (deg) | seeds | hardware |")
    print("|---|---|---|---|---|---|---|---|")
    for key, runs in groups.items():
        config = runs[0]["config"]
        acc = np.array([r["test_accuracy"] for r in runs])
        ang = np.array([r["mean_angle_test"] for r in runs])
        seeds = sorted(r["config"]["seed"] for r in runs)
        row = dict(json.loads(key), test_accuracy_mean=acc.mean(), test_accuracy_std=acc.std(),
                   mean_angle_test_mean=ang.mean(), mean_angle_test_std=ang.std(), seeds=seeds,
                   hardware=runs[0]["hardware"])
        rows.append(row)
        print(f"| {config['dataset']} | {config['loss']} | {describe_loss(config)} | {config['epochs']} | "
              f"{100 * acc.mean():.2f} +- {100 * acc.std():.2f} | {ang.mean():.2f} +- {ang.std():.2f} | "
              f"{seeds} | {runs[0]['hardware']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2, default=float)


if __name__ == "__main__":
    main()
