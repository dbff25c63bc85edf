"""experiments/converged_study: the statistics of analyse.py against scipy, the subset rule, the plan's order.

Fast (no training): synthetic accuracies and labels only.
"""

import importlib
import itertools
import json
import pathlib
import sys

import numpy as np
import pytest
from scipy import stats

STUDY = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "converged_study"


@pytest.fixture(scope="module")
def study():
    sys.path.insert(0, str(STUDY))
    try:
        yield {name: importlib.import_module(name) for name in ("plan", "subset", "analyse", "power")}
    finally:
        sys.path.remove(str(STUDY))


def test_paired_comparison_matches_scipy(study):
    rng = np.random.default_rng(0)
    base = 90 + rng.normal(size=7)
    other = base + 0.3 + 0.5 * rng.normal(size=7)
    result = study["analyse"].paired_comparison(other, base)
    d = other - base
    low, high = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    test = stats.ttest_rel(other, base)
    np.testing.assert_allclose([result["mean"], result["low"], result["high"], result["t"], result["p"]],
                               [d.mean(), low, high, test.statistic, test.pvalue], rtol=1e-10)


def closed_testing_bonferroni(p):
    """Holm's adjusted p by its definition as closed testing with Bonferroni local tests:
    adjusted p_i = max over every subset S containing i of min(1, |S| min_{j in S} p_j)."""
    m = len(p)
    return [max(min(1.0, len(s) * min(p[j] for j in s))
                for k in range(1, m + 1) for s in itertools.combinations(range(m), k) if i in s) for i in range(m)]


@pytest.mark.parametrize("seed", range(5))
def test_holm_equals_closed_testing(study, seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, size=6).tolist()
    np.testing.assert_allclose(study["analyse"].holm(p), closed_testing_bonferroni(p), rtol=1e-12)


def test_holm_worked_example(study):
    # sorted 0.01, 0.02, 0.04, 0.5 times 4, 3, 2, 1 = 0.04, 0.06, 0.08, 0.5 (already increasing).
    assert study["analyse"].holm([0.5, 0.02, 0.01, 0.04]) == pytest.approx([0.5, 0.06, 0.04, 0.08])


def test_welch_interval_matches_scipy(study):
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.5, 1.0, size=4), rng.normal(-0.2, 0.4, size=6)
    diff, low, high, _ = study["analyse"].welch_interval(a, b)
    interval = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    np.testing.assert_allclose([diff, low, high], [a.mean() - b.mean(), interval.low, interval.high], rtol=1e-10)


def test_power_half_width_and_seeds_needed(study):
    power = study["power"]
    sd = 1.146
    n = power.seeds_needed(sd, 0.3)
    assert power.half_width(sd, n) <= 0.3 < power.half_width(sd, n - 1)
    np.testing.assert_allclose(power.half_width(sd, 6), stats.t.ppf(0.975, 5) * sd / np.sqrt(6), rtol=1e-12)


def test_subset_rule_is_stratified_and_follows_the_permutation(study):
    subset = study["subset"]
    labels = np.random.default_rng(3).integers(0, 10, size=2000)
    chosen = subset.subset_indices(labels, seed=2026, per_class=50)
    assert np.all(np.diff(chosen) > 0) and np.bincount(labels[chosen]).tolist() == [50] * 10
    perm = np.random.default_rng(2026).permutation(len(labels))
    for c in range(10):
        assert set(chosen[labels[chosen] == c]) == set(perm[labels[perm] == c][:50])


def test_plan_order_keeps_a_partial_study_analysable(study):
    plan = study["plan"]
    runs = plan.runs()
    keys = [r.key for r in runs]
    assert len(keys) == len(set(keys))
    for backbone in plan.BACKBONES:
        for row in plan.rows_of(backbone):
            assert sum(r.backbone == backbone and r.row == row for r in runs) == backbone.seeds
    primary_rows = [r for r in runs if r.row.primary]
    assert runs[:len(primary_rows)] == primary_rows  # the budget-allowing rows come last
    # Within phase 1, every seed's runs of every backbone precede the next seed's.
    seeds = [r.seed for r in primary_rows]
    assert seeds == sorted(seeds)


def write_record(folder, seed, backbone, test, train):
    folder.mkdir(parents=True)
    metrics = {"config": {"loss": "x", "seed": seed, "epochs": 3, "backbone": backbone, "loss_params": {}},
               "test_accuracy": test, "train_accuracy": train, "hardware": "test", "epochs": 3,
               "total_params": 1234, "angles_test": {"intra_mean": 30.0 + seed, "weights_mean_pairwise_cosine": -0.1},
               "angles_train": {"intra_mean": 29.0 + seed}}
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_analyse_end_to_end_on_synthetic_records(study, tmp_path):
    plan, analyse = study["plan"], study["analyse"]
    rng = np.random.default_rng(2)
    accuracy = {}
    for backbone in plan.BACKBONES[:2]:
        for row in plan.rows_of(backbone):
            for seed in range(3):
                accuracy[backbone.name, row.name, seed] = float(0.85 + 0.01 * rng.normal())
                write_record(tmp_path / "records" / backbone.name / row.name / f"seed{seed}", seed, backbone.name,
                             accuracy[backbone.name, row.name, seed], 0.99)
    assert analyse.main(["--records", str(tmp_path / "records"), "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert (tmp_path / "out" / "paired_differences.png").stat().st_size > 0
    name = plan.BACKBONES[0].name
    got = summary["backbones"][name]["rows"][plan.PRIMARY]["vs_softmax"]
    a = [100 * accuracy[name, plan.PRIMARY, s] for s in range(3)]
    b = [100 * accuracy[name, plan.BASELINE, s] for s in range(3)]
    assert got["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-10)
    family = summary["secondary_family"]
    # per backbone: every row but softmax and the primary vs softmax (rows - 2), and the primary vs alpha 0 (+1)
    assert len(family) == sum(len(plan.rows_of(b)) - 1 for b in plan.BACKBONES[:2])
    np.testing.assert_allclose([f["p_holm"] for f in family], analyse.holm([f["p"] for f in family]))
    written = {f"{b}/{r}/seed{s}" for b, r, s in accuracy}
    assert set(summary["missing"]) == {r.key for r in plan.runs()} - written


def test_phase2_rows_skipped_by_the_time_gate_are_not_missing(study, tmp_path):
    plan, analyse = study["plan"], study["analyse"]
    tiny = plan.BACKBONES[0]
    for row in plan.ROWS:
        if row.primary:
            for seed in range(2):
                write_record(tmp_path / tiny.name / row.name / f"seed{seed}", seed, tiny.name, 0.85 + 0.01 * seed, 0.99)
    (tmp_path / "phase2_gate.json").write_text(json.dumps({"phase2": "skipped"}))
    _, missing, failed = analyse.load_records(tmp_path)
    assert not failed and all(key.split("/")[1] in {r.name for r in plan.ROWS if r.primary} for key in missing)
    (tmp_path / "phase2_gate.json").write_text(json.dumps({"phase2": "run"}))
    assert any(r.phase == 2 and r.key in analyse.load_records(tmp_path)[1] for r in plan.runs())
