"""Statistics over seeds: paired differences with a t interval."""

import numpy as np


def paired_difference(values, baseline, confidence=0.95):
    """Mean of `values - baseline` over paired seeds, with its Student-t confidence interval.

    The pairs share a seed (same initial weights and batch order), so the
    seed-to-seed spread common to both rows cancels; the interval is
    mean +- t_{(1+confidence)/2, n-1} * sd / sqrt(n), sd with n - 1 degrees
    of freedom.

    Args:
        values: (n,) a row's results, one per seed.
        baseline: (n,) the baseline's results for the same seeds, same order.
        confidence: interval coverage in (0, 1). Defaults to 0.95.

    Returns:
        dict: "mean", "low", "high", "sd" (of the differences), "n", and
        "resolved" (the interval excludes 0; False when every difference is
        the same, sd = 0, where the t interval degenerates to a point).

    Raises:
        ValueError: shapes differ, fewer than 2 pairs, or a bad confidence.
    """
    from scipy import stats

    values, baseline = np.asarray(values, np.float64), np.asarray(baseline, np.float64)
    if values.shape != baseline.shape or values.ndim != 1:
        raise ValueError(f"Expected two (n,) arrays of paired results; got shapes {values.shape} and {baseline.shape}.")
    if len(values) < 2:
        raise ValueError(f"A paired interval needs at least 2 seeds; got {len(values)}.")
    if not 0 < confidence < 1:
        raise ValueError(f"`confidence` must be in (0, 1). Received: {confidence}")
    differences = values - baseline
    n = len(differences)
    mean, sd = float(differences.mean()), float(differences.std(ddof=1))
    degenerate = sd <= 1e-9 * max(abs(mean), float(np.abs(values).max()), 1e-300)  # equal up to rounding
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * sd / np.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "sd": sd, "n": n,
            "resolved": bool(not degenerate and (mean - half > 0 or mean + half < 0))}
