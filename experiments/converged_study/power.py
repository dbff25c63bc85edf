"""The converged study's power calculation, from the seeded Fashion-MNIST study's paired differences.

Command (repository root):
    /work/main/.venv/bin/python experiments/converged_study/power.py --seeds 4 6 8 10

Reads experiments/fashion_mnist_study_summary.json (5 seeds, 2 epochs, `tiny`, full training set),
recomputes each row's paired differences to softmax from the per-seed test accuracies, and prints,
for the primary comparison (W-Softmax alpha 1.5 "stop" minus softmax) and the pooled W-Softmax rows:
the sd of the differences, the seeds n needed for a 95 % Student-t half-width
t_{0.975, n-1} * sd / sqrt(n) <= 0.3 points, and the half-width expected at each --seeds.
Expected (PREREGISTRATION.md, "Seeds and power"): sd 1.146 points, n = 59 seeds for 0.3 points.
"""

import argparse
import json
import math
import pathlib

import numpy as np
from scipy import stats

SUMMARY = pathlib.Path(__file__).resolve().parents[1] / "fashion_mnist_study_summary.json"
PRIMARY = "wsoftmax_a1.5"
WSOFTMAX_ROWS = ("wsoftmax_a0.5", "wsoftmax_a1.0", "wsoftmax_a1.5")


def half_width(sd, n, confidence=0.95):
    """Half-width of the paired Student-t interval over n seeds: t_{(1+c)/2, n-1} sd / sqrt(n)."""
    return float(stats.t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n))


def seeds_needed(sd, target, confidence=0.95, limit=10_000):
    """The smallest n >= 2 whose expected half-width `half_width(sd, n)` is <= `target`."""
    for n in range(2, limit):
        if half_width(sd, n, confidence) <= target:
            return n
    raise ValueError(f"More than {limit} seeds needed for sd={sd}, target={target}.")


def paired_sds(summary_path=SUMMARY, baseline="softmax"):
    """{row: (sd of the paired differences to `baseline` in points, n)} from the summary's values."""
    records = {r["row"]: r for r in json.loads(pathlib.Path(summary_path).read_text())}
    base = dict(zip(records[baseline]["seeds"], records[baseline]["test_accuracy"]["values"]))
    result = {}
    for row, record in records.items():
        if row == baseline:
            continue
        diffs = np.array([v - base[s] for s, v in zip(record["seeds"], record["test_accuracy"]["values"])])
        result[row] = (float(diffs.std(ddof=1)), len(diffs))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[4, 6, 8, 10])
    parser.add_argument("--target", type=float, default=0.3)
    args = parser.parse_args(argv)
    sds = paired_sds()
    pooled = math.sqrt(np.mean([sds[r][0] ** 2 for r in WSOFTMAX_ROWS]))
    n0 = sds[PRIMARY][1]
    # One-sided 80 % upper confidence bound of the primary sd (chi-square, n0 - 1 df): a pessimistic planning value.
    upper = sds[PRIMARY][0] * math.sqrt((n0 - 1) / stats.chi2.ppf(0.20, n0 - 1))
    for name, sd in ((f"{PRIMARY} - softmax (primary)", sds[PRIMARY][0]),
                     ("pooled W-Softmax rows - softmax", pooled),
                     (f"{PRIMARY}, 80 % upper bound of the sd", upper)):
        widths = ", ".join(f"n={n}: {half_width(sd, n):.2f}" for n in args.seeds)
        print(f"{name}: sd {sd:.3f} points; n for half-width <= {args.target}: {seeds_needed(sd, args.target)}; "
              f"expected half-width {widths}")
    for row, (sd, n) in sorted(sds.items()):
        print(f"  {row}: sd of paired differences {sd:.3f} (n={n})")


if __name__ == "__main__":
    main()
