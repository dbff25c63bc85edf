"""W-Softmax's two backward modes side by side (issue 9): accuracy, Eq. 14 and W's geometry."""

import dataclasses
import os

import numpy as np

from tf_wsoftmax.eval import plots
from tf_wsoftmax.app.experiment.run import write_json
from tf_wsoftmax.app.experiment.sweeps import run_all

# Statistics averaged over seeds, in the order of the table: metrics.json key
# (a top-level key, or "angles_test"/"angles_train" + key) -> column title.
COLUMNS = {
    "test_accuracy": "test acc (%)",
    "angles_test.intra_mean": "Eq. 14 test (deg)",
    "angles_train.intra_mean": "Eq. 14 train (deg)",
    "angles_test.intra_span_mean": "Eq. 14 in span(W), test (deg)",
    "angles_test.weights_mean_pairwise_cosine": "mean pairwise cos W",
    "angles_test.weights_mean_vector_norm": "||mean W||",
    "angles_test.feature_norm_mean": "mean ||x|| test",
}


GROUPS = ("softmax", "stop", "full", "simplex")
BASELINE_ROW = "alpha 0 (normalised softmax)"


def mode_rows(base, alphas, groups=GROUPS):
    """The rows of the comparison as (row name, config) pairs.

    Rows: the biased-Dense softmax ("softmax" group); the normalised head at
    alpha 0 (both modes give the same gradient there, so one row, the Fig. 5
    baseline; always present); each alpha > 0 with "stop" and with "full";
    the fixed-simplex head at every alpha ("simplex"; its kernel is not
    trained, so the mode does not matter).
    """
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"Unknown row group(s) {unknown}. Known: {list(GROUPS)}")
    rows = []
    if "softmax" in groups:
        rows.append(("softmax (biased Dense)", base.with_loss("softmax")))
    rows.append((BASELINE_ROW, base.with_loss("wsoftmax", alpha=0.0, bias_gradient="stop")))
    for mode in ("stop", "full"):
        if mode in groups:
            rows += [
                (f"{mode} alpha {a:g}", base.with_loss("wsoftmax", alpha=a, bias_gradient=mode))
                for a in alphas
                if a > 0
            ]
    if "simplex" in groups:
        rows += [
            (f"fixed simplex alpha {a:g}", base.with_loss("wsoftmax", alpha=a, fixed_simplex=True))
            for a in alphas
        ]
    return rows


def _value(metrics, key):
    for part in key.split("."):
        metrics = metrics[part]
    return 100.0 * metrics if key == "test_accuracy" else metrics


def _folder(row):
    return row.replace(" ", "_").replace("(", "").replace(")", "")


def gradient_mode_sweep(
    base, alphas=(0.0, 0.5, 1.0, 1.5), seeds=(0, 1, 2), out_dir="runs/gradient_modes", groups=GROUPS
):
    """Trains every row of `mode_rows` for every seed and summarises them.

    Each run lives in `out_dir/<row>_s<seed>` and is resumable; finished runs
    with the same config are read back. Writes `summary.json` (per row: each
    statistic's mean and std over seeds, and the per-class Eq. 14 angles
    averaged over seeds), `summary.md` (the table) and `angles.png` (the
    Fig. 5 analogue: per-class angles, one panel per mode).

    Args:
        base: the `TrainConfig` every row starts from (dataset, backbone,
            feature_dim, epochs, pretrain_epochs, ...).
        alphas: alpha values; 0 is the baseline. Defaults to (0, 0.5, 1, 1.5).
        seeds: seeds of each row. Defaults to (0, 1, 2).
        out_dir: the sweep's folder.
        groups: which rows besides the alpha-0 baseline (see `mode_rows`).
            Defaults to all of `GROUPS`.

    Returns:
        The list of summary records (one per row).
    """
    rows = mode_rows(base, alphas, groups)
    configs = {
        f"{_folder(name)}_s{seed}": dataclasses.replace(config, seed=seed) for name, config in rows for seed in seeds
    }
    results = run_all(configs, out_dir)
    records = []
    for name, _ in rows:
        runs = [results[f"{_folder(name)}_s{seed}"] for seed in seeds]
        record = {"row": name, "seeds": list(seeds)}
        for key in COLUMNS:
            values = np.array([_value(m, key) for m in runs], dtype=np.float64)
            record[key] = {"mean": float(values.mean()), "std": float(values.std()), "values": values.tolist()}
        record["per_class_test"] = np.mean([m["angles_test"]["per_class"] for m in runs], axis=0).tolist()
        records.append(record)
    write_json(os.path.join(out_dir, "summary.json"), records)
    with open(os.path.join(out_dir, "summary.md"), "w") as f:
        f.write(format_table(records) + "\n")
    plot_modes(records, alphas, os.path.join(out_dir, "angles.png"),
               subtitle=f"{base.dataset} test images, mean over seeds {', '.join(str(s) for s in seeds)}")
    return records


def plot_modes(records, alphas, path, title=plots.ANGLE_BARS_TITLE + ", by gradient mode", subtitle=None):
    """The Fig. 5 analogue: one panel per mode, bars per alpha (alpha 0 in each), legends under the panels.

    Args:
        records: the sweep's summary records (with "per_class_test").
        alphas: the alpha values of the sweep.
        path: output PNG path.
        title: figure title (what is plotted).
        subtitle: caption line (the data and the seeds). Defaults to None.

    Returns:
        The matplotlib `Figure`.
    """
    by_row = {r["row"]: r["per_class_test"] for r in records}
    baseline = {"alpha 0": by_row[BASELINE_ROW]}
    panels = []
    for mode in ("stop", "full"):
        if f"{mode} alpha {max(alphas):g}" in by_row:
            series = dict(baseline)
            series.update({f"alpha {a:g}": by_row[f"{mode} alpha {a:g}"] for a in alphas if a > 0})
            panels.append((f'trainable W, bias_gradient="{mode}"', series))
    if f"fixed simplex alpha {max(alphas):g}" in by_row:
        panels.append(("fixed simplex W", {f"alpha {a:g}": by_row[f"fixed simplex alpha {a:g}"] for a in alphas}))
    return plots.plot_angle_bar_panels(panels or [("trainable W", baseline)], path, title=title, subtitle=subtitle)


def format_table(records):
    """Markdown table: mean +- std over seeds of every statistic in `COLUMNS`."""
    lines = [
        "| row | " + " | ".join(COLUMNS.values()) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for record in records:
        cells = []
        for key in COLUMNS:
            digits = 2 if key == "test_accuracy" or "intra" in key else 3
            cells.append(f"{record[key]['mean']:.{digits}f} +- {record[key]['std']:.{digits}f}")
        lines.append(f"| {record['row']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
