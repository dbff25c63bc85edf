"""Analyses the converged study's committed records: the summary table, a JSON summary and the figure.

Command (repository root; reads whatever records are committed, so it also runs on a partial study):
    PYTHONPATH=. /work/main/.venv/bin/python experiments/converged_study/analyse.py \
        [--records experiments/converged_study/records] [--out experiments/converged_study/summary]

Produces in --out: summary.md (per backbone, every row: seeds, test and train accuracy mean +- sd,
train/test gap, Eq. 14 test / train, the paired difference to softmax with its 95 % Student-t
interval, the paired t p-value and its Holm-adjusted value for the secondary comparisons; then the
primary endpoint per backbone and the sign-change verdict, and the runs still missing),
summary.json (the same numbers) and paired_differences.png (every comparison with its interval,
grouped by backbone; the seeds and the data in the caption).

The analysis is the one PREREGISTRATION.md fixes ("Analysis"): differences in points of test
accuracy, paired by seed (`tf_wsoftmax.eval.paired_difference`, summarize.py's intervals); primary:
W-Softmax stop alpha 1.5 minus softmax per backbone, unadjusted 95 % interval; secondary: the other
rows minus softmax and W-Softmax stop alpha 1.5 minus normalised softmax, one Holm family over all
backbones; sign change with capacity: only when one backbone's primary interval lies above 0 and
another's below 0.
"""

import argparse
import importlib.util
import json
import math
import pathlib
import sys

import numpy as np
from scipy import stats

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import plan  # noqa: E402


def _summarize_module():
    """experiments/summarize.py (its metrics.json checks), imported by path."""
    spec = importlib.util.spec_from_file_location("summarize_script", HERE.parent / "summarize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def paired_comparison(values, baseline):
    """The paired difference `values - baseline` (points): summarize.py's t interval plus the t test's p-value.

    Returns:
        `tf_wsoftmax.eval.paired_difference`'s dict plus "t" and "p" (two-sided paired t test,
        n - 1 degrees of freedom; p = 1 when every difference is equal, sd = 0 and mean 0).
    """
    from tf_wsoftmax.eval import paired_difference

    result = paired_difference(values, baseline)
    n, mean, sd = result["n"], result["mean"], result["sd"]
    if sd == 0:
        t, p = (0.0, 1.0) if mean == 0 else (math.copysign(math.inf, mean), 0.0)
    else:
        t = mean / (sd / math.sqrt(n))
        p = float(2 * stats.t.sf(abs(t), n - 1))
    return dict(result, t=float(t), p=p)


def holm(pvalues):
    """Holm's step-down adjusted p-values (same order as given).

    Sort ascending p_(1) <= ... <= p_(m); adjusted p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j)).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return adjusted.tolist()


def welch_interval(a, b, confidence=0.95):
    """Mean of a minus mean of b with Welch's t interval (unequal variances): (diff, low, high, df)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    diff = float(a.mean() - b.mean())
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, df) * math.sqrt(va + vb))
    return diff, diff - half, diff + half, float(df)


def load_records(records_dir):
    """{backbone: {row: {seed: metrics}}} of the committed records, and the pre-registered runs missing.

    Returns:
        (records, missing, failed): missing lists the `plan.runs()` keys without metrics.json
        (phase 2's runs are left out when records/phase2_gate.json says they were skipped),
        failed those with a FAILED.json record.
    """
    summarize = _summarize_module()
    records, missing, failed = {}, [], []
    gate = pathlib.Path(records_dir) / "phase2_gate.json"
    skipped = gate.exists() and json.loads(gate.read_text())["phase2"] == "skipped"
    for run in plan.runs():
        if run.phase == 2 and skipped:
            continue  # not run by the pre-registered time gate (reported from phase2_gate.json)
        folder = pathlib.Path(records_dir) / run.key
        if not (folder / "metrics.json").exists():
            (failed if (folder / "FAILED.json").exists() else missing).append(run.key)
            continue
        metrics = summarize.read_metrics(folder / "metrics.json")
        if metrics["config"]["seed"] != run.seed or metrics["config"]["backbone"] != run.backbone.name:
            raise ValueError(f"{folder}: its config (seed, backbone) does not match the record's place")
        records.setdefault(run.backbone.name, {}).setdefault(run.row.name, {})[run.seed] = metrics
    return records, missing, failed


def _mean_sd(values):
    values = np.asarray(values, np.float64)
    return {"mean": float(values.mean()), "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
            "n": int(len(values))}


def _paired(runs, base_runs):
    seeds = sorted(set(runs) & set(base_runs))
    if len(seeds) < 2:
        return None
    result = paired_comparison([100 * runs[s]["test_accuracy"] for s in seeds],
                               [100 * base_runs[s]["test_accuracy"] for s in seeds])
    return dict(result, seeds=seeds)


def analyse(records):
    """The summary: per backbone, every row's statistics and comparisons; Holm over the secondary family."""
    summary = {"backbones": {}, "secondary_family": []}
    for backbone, rows in records.items():
        table = {}
        for row, runs in rows.items():
            seeds = sorted(runs)
            test = [100 * runs[s]["test_accuracy"] for s in seeds]
            train = [100 * runs[s]["train_accuracy"] for s in seeds]
            entry = {
                "seeds": seeds, "epochs": runs[seeds[0]]["epochs"], "total_params": runs[seeds[0]]["total_params"],
                "test_accuracy": _mean_sd(test), "train_accuracy": _mean_sd(train),
                "gap": _mean_sd(np.array(train) - np.array(test)),
                "eq14_test": _mean_sd([runs[s]["angles_test"]["intra_mean"] for s in seeds]),
                "eq14_train": _mean_sd([runs[s]["angles_train"]["intra_mean"] for s in seeds]),
            }
            if row != plan.BASELINE and plan.BASELINE in rows:
                entry["vs_softmax"] = _paired(runs, rows[plan.BASELINE])
            table[row] = entry
        if plan.PRIMARY in rows and "normalized_softmax" in rows:
            table[plan.PRIMARY]["vs_normalized_softmax"] = _paired(rows[plan.PRIMARY], rows["normalized_softmax"])
        summary["backbones"][backbone] = {"rows": table}
    # Secondary family (Holm): every non-primary row vs softmax, and the primary row vs normalised softmax.
    family = []
    for backbone, content in summary["backbones"].items():
        for row, entry in content["rows"].items():
            for key in ("vs_softmax", "vs_normalized_softmax"):
                comparison = entry.get(key)
                if comparison is None or (key == "vs_softmax" and row == plan.PRIMARY):
                    continue
                family.append((backbone, row, key, comparison))
    for (backbone, row, key, comparison), adjusted in zip(family, holm([c["p"] for *_, c in family]) if family else []):
        comparison["p_holm"] = adjusted
        summary["secondary_family"].append({"backbone": backbone, "row": row, "comparison": key,
                                            "p": comparison["p"], "p_holm": adjusted})
    primary = {b: c["rows"][plan.PRIMARY].get("vs_softmax") for b, c in summary["backbones"].items()
               if plan.PRIMARY in c["rows"]}
    primary = {b: p for b, p in primary.items() if p is not None}
    above = [b for b, p in primary.items() if p["low"] > 0]
    below = [b for b, p in primary.items() if p["high"] < 0]
    summary["primary"] = {
        "comparison": f"{plan.PRIMARY} - {plan.BASELINE}, test accuracy, points",
        "per_backbone": primary,
        "sign_change": bool(above and below),
        "verdict": ("sign change: interval above 0 on " + ", ".join(above) + ", below 0 on " + ", ".join(below))
        if above and below else "no resolved sign change (no pair of backbones with intervals on opposite sides of 0)",
    }
    names = [b.name for b in plan.BACKBONES if b.name in primary]
    if len(names) >= 2:
        first, last = names[0], names[-1]
        d = lambda name: [x - y for x, y in zip(*_paired_values(records[name]))]  # noqa: E731
        diff, low, high, df = welch_interval(d(last), d(first))
        summary["primary"]["capacity_contrast"] = {"backbones": [last, first], "difference": diff, "low": low,
                                                   "high": high, "df": df}
    return summary


def _paired_values(rows):
    seeds = sorted(set(rows[plan.PRIMARY]) & set(rows[plan.BASELINE]))
    return ([100 * rows[plan.PRIMARY][s]["test_accuracy"] for s in seeds],
            [100 * rows[plan.BASELINE][s]["test_accuracy"] for s in seeds])


def _ms(stat, digits=2):
    return f"{stat['mean']:.{digits}f}" + ("" if stat["sd"] is None else f" +- {stat['sd']:.{digits}f}")


def format_markdown(summary, missing, failed):
    lines = []
    for backbone, content in summary["backbones"].items():
        rows = content["rows"]
        any_row = next(iter(rows.values()))
        lines += [f"### `{backbone}` ({any_row['total_params']:,} parameters with the first row's head, "
                  f"{any_row['epochs']} epochs)", "",
                  "| row | seeds | test acc % | train acc % | train - test gap | diff. to softmax [95 % CI] | p | "
                  "p (Holm) | Eq. 14 test / train (deg) |", "|---|---|---|---|---|---|---|---|---|"]
        for row, e in rows.items():
            c = e.get("vs_softmax")
            diff = "-" if c is None else f"{c['mean']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]"
            p = "-" if c is None else f"{c['p']:.3f}"
            holm_p = "-" if c is None or "p_holm" not in c else f"{c['p_holm']:.3f}"
            if row == plan.PRIMARY:
                holm_p = "primary"
            lines.append(f"| {row} | {len(e['seeds'])} | {_ms(e['test_accuracy'])} | {_ms(e['train_accuracy'])} | "
                         f"{_ms(e['gap'])} | {diff} | {p} | {holm_p} | "
                         f"{e['eq14_test']['mean']:.2f} / {e['eq14_train']['mean']:.2f} |")
        c = rows.get(plan.PRIMARY, {}).get("vs_normalized_softmax")
        if c:
            lines += ["", f"{plan.PRIMARY} - normalized_softmax: {c['mean']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}] "
                      f"points, p {c['p']:.3f}, Holm {c.get('p_holm', float('nan')):.3f}"]
        lines.append("")
    primary = summary["primary"]
    lines += [f"**Primary endpoint** ({primary['comparison']}, 95 % paired t interval):"]
    for backbone, p in primary["per_backbone"].items():
        lines.append(f"- `{backbone}`: {p['mean']:+.2f} [{p['low']:+.2f}, {p['high']:+.2f}] over seeds {p['seeds']}")
    lines.append(f"- {primary['verdict']}")
    if "capacity_contrast" in primary:
        cc = primary["capacity_contrast"]
        lines.append(f"- capacity contrast (effect on `{cc['backbones'][0]}` minus effect on `{cc['backbones'][1]}`, "
                     f"Welch): {cc['difference']:+.2f} [{cc['low']:+.2f}, {cc['high']:+.2f}]")
    lines += ["", f"Pre-registered runs without a record: {len(missing)}" + (f" ({', '.join(missing)})" if missing else ""),
              f"Failed runs: {len(failed)}" + (f" ({', '.join(failed)})" if failed else "")]
    return "\n".join(lines) + "\n"


def plot(summary, path):
    """paired_differences.png: every comparison to softmax with its 95 % interval, grouped by backbone."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r.name for r in plan.ROWS if r.name != plan.BASELINE]
    colours = dict(zip(rows, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    backbones = [b for b in (x.name for x in plan.BACKBONES) if b in summary["backbones"]]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    width = 0.8 / len(rows)
    seeds_text = []
    for i, backbone in enumerate(backbones):
        content = summary["backbones"][backbone]["rows"]
        for j, row in enumerate(rows):
            c = content.get(row, {}).get("vs_softmax")
            if c is None:
                continue
            x = i - 0.4 + width * (j + 0.5)
            ax.errorbar(x, c["mean"], yerr=[[c["mean"] - c["low"]], [c["high"] - c["mean"]]], fmt="o", capsize=3,
                        color=colours[row], label=None if row in ax.get_legend_handles_labels()[1] else row)
        seeds = content.get(plan.BASELINE, {}).get("seeds", [])
        epochs = next(iter(content.values()))["epochs"]
        seeds_text.append(f"{backbone}: {epochs} epochs, seeds {seeds}")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(backbones)))
    ax.set_xlim(-0.5, len(backbones) - 0.5)  # each backbone's rows spread over [i - 0.4, i + 0.4]
    ax.set_xticklabels([f"{b}\n({summary['backbones'][b]['rows'][next(iter(summary['backbones'][b]['rows']))]['total_params']:,} params)"
                        for b in backbones])
    ax.set_xlabel("backbone")
    ax.set_ylabel("test accuracy minus softmax (points)")
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize=8, loc="best")
    caption = ("Fashion-MNIST, 6,000-image stratified training subset (600/class), full 10,000-image test set; "
               "paired by seed, 95 % Student-t intervals.\n" + "; ".join(seeds_text))
    fig.text(0.01, 0.01, caption, fontsize=7, va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=str(HERE / "records"))
    parser.add_argument("--out", default=str(HERE / "summary"))
    args = parser.parse_args(argv)
    records, missing, failed = load_records(args.records)
    if not records:
        print(f"error: no records in {args.records}", file=sys.stderr)
        return 2
    summary = analyse(records)
    gate = pathlib.Path(args.records) / "phase2_gate.json"
    summary.update(missing=missing, failed=failed, phase2_gate=json.loads(gate.read_text()) if gate.exists() else None)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = format_markdown(summary, missing, failed)
    if summary["phase2_gate"]:
        g = summary["phase2_gate"]
        text += (f"Phase 2 ({', '.join(r.name for r in plan.ROWS if not r.primary)} on {', '.join(plan.OPTIONAL_ON)}): "
                 f"{g['phase2']} (phase 1 took {g['phase1_active_hours']:.2f} h; gate {g['gate_hours']} h)\n")
    (out / "summary.md").write_text(text)
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    plot(summary, out / "paired_differences.png")
    print(text)
    print(f"wrote {out / 'summary.md'}, {out / 'summary.json'}, {out / 'paired_differences.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
