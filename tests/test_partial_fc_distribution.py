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
    """K = 4096 over 4 model shards: the library's sampled step (the draw, the gathered rows, the
    chunked objective and LazyColumnSGD) compiles sharded, with the same class matrices as the full
    step, with one draw over all K and with a draw per block of K / 4 (`sample_blocks`)."""
    full, one_draw, per_block = report["memory"]
    assert [r["sample_rate"] for r in report["memory"]] == [1.0, 0.1, 0.1]
    assert [r["sample_blocks"] for r in report["memory"]] == [1, 1, 4]
    for sampled in (one_draw, per_block):
        assert sampled["computed_class_matrices_bytes"] == full["computed_class_matrices_bytes"]
        # The same arguments but the sampler's int32 seed and step counter (a few bytes).
        assert 0 <= sampled["argument_bytes"] - full["argument_bytes"] <= 64


@pytest.mark.slow
def test_a_draw_per_block_keeps_each_devices_sampled_rows_on_it(report):
    """With one draw over all K, XLA's partitioner keeps the gathered rows (and the update's) whole
    on every device; drawn per block of the split, each device gathers and scatters its own rows, so
    the step's temporaries fall with the rate: below half of the full step's (here 0.24 of it, the
    one-draw step 0.99; docs/scale.md has K = 10^6). A gather over all K would not."""
    full, one_draw, per_block = report["memory"]
    assert per_block["temp_bytes"] < 0.5 * full["temp_bytes"]
    assert per_block["temp_bytes"] < 0.5 * one_draw["temp_bytes"]
