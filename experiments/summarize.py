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
Every metrics.json is checked (valid JSON, every key, finite values, accuracies as fractions in
[0, 1]); a bad one is an error naming it. A run folder without metrics.json (unfinished or failed)
is listed under the table and counted in its row's seeds cell ("4 (1 missing)"), never dropped.
"""

import argparse
import json
import math
import os
import re
import sys

import numpy as np

IGNORED_KEYS = ("seed", "checkpoint_every", "jit_compile", "data_dir", "download")
SEEDED_FOLDER = re.compile(r"^(?P<row>.+)_s(?P<seed>\d+)$")


def describe_loss(config):
    """The loss hyperparameters of a run's config."""
    params = config.get("loss_params") or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "-"


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value):
    return _is_number(value) and math.isfinite(value)


# The fields a run's metrics.json must hold: dotted key -> (what it must be, check).
REQUIRED = {
    "config": ("an object", lambda v: isinstance(v, dict)),
    "config.seed": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "config.loss": ("a string", lambda v: isinstance(v, str)),
    "config.epochs": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "test_accuracy": ("a finite fraction in [0, 1] (not percent)", lambda v: _finite(v) and 0 <= v <= 1),
    "hardware": ("a string", lambda v: isinstance(v, str)),
    "angles_test.intra_mean": ("a finite angle in degrees", _finite),
    "angles_train.intra_mean": ("a finite angle in degrees", _finite),
    "angles_test.weights_mean_pairwise_cosine": ("a finite cosine in [-1, 1]", lambda v: _finite(v) and -1 <= v <= 1),
}


def _describe(value):
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return f"a {'list' if isinstance(value, list) else 'object'}"
    return repr(value)


def read_metrics(path):
    """A run's metrics.json, checked: every field `summarize` uses is there and has a sane value.

    Args:
        path: the metrics.json.

    Returns:
        The metrics dict.

    Raises:
        ValueError: invalid JSON, not an object, a missing key, or a value
            of the wrong type, null, NaN / Inf, or out of range (e.g. a
            percent-scale accuracy); the message names the file and the key.
    """
    try:
        with open(path) as f:
            metrics = json.load(f)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(metrics, dict):
        raise ValueError(f"{path}: expected a JSON object of run metrics, found {_describe(metrics)}")
    for key, (expected, check) in REQUIRED.items():
        value = metrics
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                raise ValueError(f"{path}: missing key {key!r}")
            value = value[part]
        if not check(value):
            raise ValueError(f"{path}: {key!r} must be {expected}; found {_describe(value)}")
    params = metrics["config"].get("loss_params")
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"{path}: 'config.loss_params' must be an object; found {_describe(params)}")
    return metrics


def load_rows(folder):
    """Reads folder/<row>_s<seed>/metrics.json, checking each file and that each row's configs agree.

    Args:
        folder: the study's folder.

    Returns:
        (rows, missing): rows is {row: {seed: metrics}}; missing is {row:
        [run folders without metrics.json]} (unfinished or failed runs: shown
        in the table, never dropped silently).

    Raises:
        ValueError: no runs at all, a bad metrics.json (naming it), a seed
            that differs from its folder's name, or a row mixing configurations.
    """
    rows, missing = {}, {}
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        match = SEEDED_FOLDER.match(name)
        if match is None or not os.path.isdir(os.path.join(folder, name)):
            continue
        path = os.path.join(folder, name, "metrics.json")
        if not os.path.exists(path):
            missing.setdefault(match["row"], []).append(name)
            continue
        metrics = read_metrics(path)
        seed = metrics["config"]["seed"]  # pair by the seed the run used, not by the folder name
        if int(match["seed"]) != seed or seed in rows.get(match["row"], {}):
            raise ValueError(f"{path}: seed {seed} does not match its folder name, or row {match['row']!r} has it twice")
        rows.setdefault(match["row"], {})[seed] = metrics
    if not rows:
        absent = f" ({sum(len(v) for v in missing.values())} run folders without metrics.json)" if missing else ""
        raise ValueError(f"No <row>_s<seed>/metrics.json runs in {folder}{absent}")
    for row, runs in rows.items():
        configs = {json.dumps({k: v for k, v in m["config"].items() if k not in IGNORED_KEYS}, sort_keys=True)
                   for m in runs.values()}
        if len(configs) > 1:
            raise ValueError(f"Row {row!r} mixes configurations (beyond the seed): {sorted(configs)}")
    return rows, missing


def summarize(rows, paired=None, missing=None):
    """One record per row: means, stds and (with `paired`) the paired difference of the test accuracy.

    Args:
        rows: {row: {seed: metrics}} from `load_rows`.
        paired: the row every other row is differenced against, seed by seed.
        missing: {row: [run folders without metrics.json]} from `load_rows`:
            listed in each record ("missing"); a row with no finished run
            gets a record with no seeds.

    Returns:
        The list of records, in row order.
    """
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
        record["missing"] = list((missing or {}).get(row, []))
        records.append(record)
    for row in sorted(set(missing or {}) - set(rows)):
        records.append({"row": row, "seeds": [], "missing": list(missing[row])})
    return records


def format_table(records, paired=None):
    """The Markdown table of `summarize`'s records."""
    head = "| row | loss | hyperparameters | epochs | seeds | test acc % (mean +- std) |"
    if paired:
        head += f" paired diff. to {paired} (points) [95 % CI] |"
    head += " Eq. 14 test (deg) | Eq. 14 train (deg) | mean pairwise cos W |"
    lines = [head, "|" + "---|" * head.count(" |")]
    for r in records:
        seeds = str(len(r["seeds"])) + (f" ({len(r['missing'])} missing)" if r.get("missing") else "")
        if not r["seeds"]:  # every run of the row lacks its metrics.json
            lines.append("| " + " | ".join([r["row"], "-", "-", "-", seeds] + ["missing"] * (head.count(" |") - 5)) + " |")
            continue
        cells = [r["row"], r["loss"], r["hyperparameters"], str(r["epochs"]), seeds,
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


def main(argv=None):
    """The command: prints the table (and the runs without metrics.json); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--paired", help="row to difference every other row against, seed by seed")
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    try:
        rows, missing = load_rows(args.folder)
        records = summarize(rows, args.paired, missing)
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(format_table(records, args.paired))
    absent = [name for r in records for name in r["missing"]]
    if absent:
        print(f"\nmissing: {len(absent)} run folder(s) without metrics.json, not counted: {', '.join(absent)}")
    if args.paired:
        hardware = next(r["hardware"] for r in records if r["seeds"])
        print(f"\n* the 95 % interval excludes 0 (resolved at this many seeds). Seeds: "
              f"{sorted({s for r in records for s in r['seeds']})}. Hardware: {hardware}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
