"""Summarise a folder of runs (each with metrics.json) as a Markdown table over seeds.

Command:
    .venv/bin/python experiments/summarize.py runs/fashion_mnist_study --paired softmax \
        [--json runs/fashion_mnist_study/summary.json]

A row is the runs of one folder stem: `<row>_s<seed>` (e.g. softmax_s0 ... softmax_s4); the runs of a
row must share their config except the seed and the settings that do not change what is trained.
Columns: test accuracy mean +- std over seeds (std with ddof 1); with --paired ROW, the paired
difference to that row over the seeds both have, with its 95 % Student-t interval
(`tf_wsoftmax.eval.paired_difference`); Eq. 14 (mean angle of a feature to its own class vector,
test and train, degrees); the mean pairwise cosine of the class vectors W (`weights_mean_pairwise_cosine`).
"""

import argparse
import glob
import json
import os
import re

import numpy as np

IGNORED_KEYS = ("seed", "checkpoint_every", "jit_compile", "data_dir", "download")
SEEDED_FOLDER = re.compile(r"^(?P<row>.+)_s(?P<seed>\d+)$")


def describe_loss(config):
    """The loss hyperparameters of a run's config."""
    params = config.get("loss_params") or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "-"


def load_rows(folder):
    """{row: {seed: metrics}} from folder/<row>_s<seed>/metrics.json, checking each row's configs agree."""
    rows = {}
    for path in sorted(glob.glob(os.path.join(folder, "*", "metrics.json"))):
        match = SEEDED_FOLDER.match(os.path.basename(os.path.dirname(path)))
        if match is None:
            continue
        with open(path) as f:
            metrics = json.load(f)
        seed = metrics["config"]["seed"]  # pair by the seed the run used, not by the folder name
        if int(match["seed"]) != seed or seed in rows.get(match["row"], {}):
            raise ValueError(f"{path}: seed {seed} does not match its folder name, or row {match['row']!r} has it twice")
        rows.setdefault(match["row"], {})[seed] = metrics
    if not rows:
        raise ValueError(f"No <row>_s<seed>/metrics.json runs in {folder}")
    for row, runs in rows.items():
        configs = {json.dumps({k: v for k, v in m["config"].items() if k not in IGNORED_KEYS}, sort_keys=True)
                   for m in runs.values()}
        if len(configs) > 1:
            raise ValueError(f"Row {row!r} mixes configurations (beyond the seed): {sorted(configs)}")
    return rows


def summarize(rows, paired=None):
    """One record per row: means, stds and (with `paired`) the paired difference of the test accuracy."""
    from tf_wsoftmax.eval import paired_difference

    if paired is not None and paired not in rows:
        raise ValueError(f"--paired {paired!r}: no such row. Rows: {sorted(rows)}")
    if paired is not None:
        shared = ("dataset", "epochs", "backbone", "feature_dim", "batch_size", "classes")
        base = next(iter(rows[paired].values()))["config"]
        for row, runs in rows.items():
            config = next(iter(runs.values()))["config"]
            differing = [k for k in shared if config.get(k) != base.get(k)]
            if differing:
                raise ValueError(f"Row {row!r} differs from {paired!r} in {differing}: not a paired comparison")
    records = []
    for row, runs in rows.items():
        seeds = sorted(runs)
        accuracy = np.array([100 * runs[s]["test_accuracy"] for s in seeds])
        config = runs[seeds[0]]["config"]
        record = {
            "row": row, "loss": config["loss"], "hyperparameters": describe_loss(config),
            "epochs": config["epochs"], "backbone": config.get("backbone"), "seeds": seeds,
            "test_accuracy": {"mean": accuracy.mean(), "std": accuracy.std(ddof=1) if len(seeds) > 1 else 0.0,
                              "values": accuracy.tolist()},
            "hardware": runs[seeds[0]]["hardware"],
        }
        for key, metric in (("eq14_test", ("angles_test", "intra_mean")), ("eq14_train", ("angles_train", "intra_mean")),
                            ("w_mean_pairwise_cosine", ("angles_test", "weights_mean_pairwise_cosine"))):
            values = np.array([runs[s][metric[0]][metric[1]] for s in seeds])
            record[key] = {"mean": values.mean(), "std": values.std(ddof=1) if len(seeds) > 1 else 0.0}
        if paired is not None and row != paired:
            shared = [s for s in seeds if s in rows[paired]]
            if len(shared) >= 2:
                record["paired_difference"] = paired_difference(
                    [100 * runs[s]["test_accuracy"] for s in shared],
                    [100 * rows[paired][s]["test_accuracy"] for s in shared],
                )
        records.append(record)
    return records


def format_table(records, paired=None):
    """The Markdown table of `summarize`'s records."""
    head = "| row | loss | hyperparameters | epochs | seeds | test acc % (mean +- std) |"
    if paired:
        head += f" paired diff. to {paired} (points) [95 % CI] |"
    head += " Eq. 14 test (deg) | Eq. 14 train (deg) | mean pairwise cos W |"
    lines = [head, "|" + "---|" * head.count(" |")]
    for r in records:
        cells = [r["row"], r["loss"], r["hyperparameters"], str(r["epochs"]), str(len(r["seeds"])),
                 f"{r['test_accuracy']['mean']:.2f} +- {r['test_accuracy']['std']:.2f}"]
        if paired:
            d = r.get("paired_difference")
            cells.append("-" if d is None else f"{d['mean']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"
                         + (" *" if d["resolved"] else ""))
        cells += [f"{r['eq14_test']['mean']:.2f} +- {r['eq14_test']['std']:.2f}",
                  f"{r['eq14_train']['mean']:.2f} +- {r['eq14_train']['std']:.2f}",
                  f"{r['w_mean_pairwise_cosine']['mean']:+.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--paired", help="row to difference every other row against, seed by seed")
    parser.add_argument("--json")
    args = parser.parse_args()
    records = summarize(load_rows(args.folder), args.paired)
    print(format_table(records, args.paired))
    if args.paired:
        print(f"\n* the 95 % interval excludes 0 (resolved at this many seeds). Seeds: "
              f"{sorted({s for r in records for s in r['seeds']})}. Hardware: {records[0]['hardware']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2, default=float)


if __name__ == "__main__":
    main()
