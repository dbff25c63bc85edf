"""Partial FC on a class-sharded head (8 virtual CPU devices, JAX, in a subprocess) equals one device."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def report():
    from tests.backends.sharded_worker import run_worker

    return run_worker("tests.backends.partial_fc_sharded_worker")


@pytest.mark.slow
def test_sampled_sharded_fit_equals_one_device(report):
    """Bound as tests/test_distribution.py: reordered float64 sums, steps * n * eps * s * max(1, |w|)
    with n = 80 terms (at most; the sampled columns: 24 of 80, the batch 8) and s = 64, times 10."""
    assert report["devices"] == 8
    assert set(report["cases"]) == {"wsoftmax_stop", "wsoftmax_full", "normalized_softmax", "cosface", "arcface"}
    for case, result in report["cases"].items():
        tolerance = 10 * report["steps"] * 80 * np.finfo("float64").eps * 64 * max(1.0, result["max_abs_weight"])
        assert result["max_kernel_movement"] > 1e6 * tolerance, case  # the runs trained
        assert 0 < result["moved_columns"] < 80, case  # sampling: some columns never moved
        assert result["max_weight_difference"] < tolerance, case
        assert result["max_momentum_difference"] < tolerance, case
        np.testing.assert_allclose(result["sharded_losses"], result["single_losses"], rtol=tolerance, err_msg=case)


@pytest.mark.slow
def test_the_sampled_head_is_split_along_k(report):
    """A sampling head's kernel is class-major, (K, d): K is its axis 0."""
    for case, result in report["cases"].items():
        kernel = next(spec for path, spec in result["shardings"].items() if path.endswith("head/kernel"))
        assert kernel == ["model", None], case


@pytest.mark.slow
def test_bench_memory_compiles_the_sampled_sharded_step(report):
    """K = 4096 over 4 model shards: the library's sampled step (the draw, the gathered columns, the
    chunked objective and LazyColumnSGD) compiles sharded, with the same class matrices as the full
    step. (Which one needs less memory is a benchmark figure: docs/scale.md.)"""
    full, sampled = report["memory"]
    assert (full["sample_rate"], sampled["sample_rate"]) == (1.0, 0.1)
    assert sampled["computed_class_matrices_bytes"] == full["computed_class_matrices_bytes"]
    # The same arguments but the sampler's int32 seed and step counter (a few bytes).
    assert 0 <= sampled["argument_bytes"] - full["argument_bytes"] <= 64
