import numpy as np
import pytest

from tests import reference
from tf_wsoftmax import theory
from tf_wsoftmax.eval import angle_statistics
from tf_wsoftmax.eval import mean_class_angles
from tf_wsoftmax.eval import project_onto_span
from tf_wsoftmax.eval import weight_geometry


def test_matches_loop_reference(rng):
    features = rng.normal(size=(50, 4))
    labels = rng.integers(0, 3, size=50)
    kernel = rng.normal(size=(4, 3))
    np.testing.assert_allclose(
        mean_class_angles(features, labels, kernel),
        reference.mean_class_angles(features, labels, kernel),
        atol=1e-9,
    )


def test_known_angles():
    """Class 0's features lie on W_0 (0 deg) and at 90 deg; class 1's at 180 deg."""
    kernel = np.array([[2.0, 0.0], [0.0, 5.0]])
    features = np.array([[3.0, 0.0], [0.0, 1.0], [0.0, -2.0]])
    angles = mean_class_angles(features, [0, 0, 1], kernel)
    np.testing.assert_allclose(angles, [45.0, 180.0])
    angles = mean_class_angles(features[:1], [0], np.hstack([kernel, kernel]))
    assert angles[0] == 0.0 and np.all(np.isnan(angles[1:]))


@pytest.mark.parametrize(
    "args,match",
    [
        ((np.ones((3, 2)), [0, 1, 2], np.ones((2, 2))), "labels must be in"),
        ((np.ones((3, 2)), [0, 1], np.ones((2, 2))), "2 labels for 3"),
        ((np.ones((3, 4)), [0, 1, 1], np.ones((2, 2))), "Expected features"),
    ],
)
def test_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        mean_class_angles(*args)


def test_weight_geometry_of_the_simplex_and_of_a_shared_component():
    """Simplex: pairwise cosine -1/(K-1), unit mean 0. Adding a shared
    component m to every class vector raises both (the drift of the "full"
    gradient that issue 9 describes)."""
    simplex = theory.simplex_weights(5, dim=4)
    geometry = weight_geometry(simplex)
    np.testing.assert_allclose(geometry["mean_pairwise_cosine"], -1.0 / 4, atol=1e-12)
    np.testing.assert_allclose(geometry["mean_vector_norm"], 0.0, atol=1e-12)
    shifted = weight_geometry(simplex + 0.8 * np.array([[1.0], [0.0], [0.0], [0.0]]))
    assert shifted["mean_pairwise_cosine"] > -0.25 and shifted["mean_vector_norm"] > 0.3
    same = weight_geometry(np.ones((3, 4)))
    np.testing.assert_allclose([same["mean_pairwise_cosine"], same["mean_vector_norm"]], [1.0, 1.0])


def test_projection_onto_the_span_of_the_class_vectors(rng):
    kernel = rng.normal(size=(6, 2))
    inside = rng.normal(size=(5, 2)) @ kernel.T
    outside = rng.normal(size=(5, 6))
    outside -= project_onto_span(outside, kernel)  # orthogonal part only
    np.testing.assert_allclose(project_onto_span(inside, kernel), inside, atol=1e-10)
    np.testing.assert_allclose(project_onto_span(inside + outside, kernel), inside, atol=1e-10)
    np.testing.assert_allclose(outside @ kernel, 0.0, atol=1e-10)
    labels = rng.integers(0, 2, size=5)
    stats = angle_statistics(inside + outside, labels, kernel)
    np.testing.assert_allclose(
        stats["intra_span_mean"], np.nanmean(reference.mean_class_angles(inside, labels, kernel)), atol=1e-9
    )
    assert stats["intra_mean"] > stats["intra_span_mean"]
    np.testing.assert_allclose(stats["feature_norm_mean"], np.linalg.norm(inside + outside, axis=1).mean())


def test_health_checks_report_collapse_and_chance(rng):
    """Identical directions (any norms) are a collapse; random ones are not.
    Accuracy below 1.5 / K is reported, above it is not."""
    from tf_wsoftmax.eval import chance_warning, collapse_warning, mean_pairwise_cosine

    direction = rng.normal(size=(1, 8))
    collapsed = direction * rng.uniform(0.5, 2.0, size=(20, 1))
    np.testing.assert_allclose(mean_pairwise_cosine(collapsed), 1.0, atol=1e-12)
    assert "collapsed embedding" in collapse_warning(collapsed)
    assert collapse_warning(rng.normal(size=(20, 8))) is None
    # two orthogonal directions: pairs within a group 1, across 0 -> (2 * 9 * 10 / 2 * 2) / (20 * 19)
    two = np.vstack([np.tile([1.0, 0.0], (10, 1)), np.tile([0.0, 1.0], (10, 1))])
    np.testing.assert_allclose(mean_pairwise_cosine(two), 2 * 10 * 9 / (20 * 19))
    assert "stuck at chance" in chance_warning(0.12, 10)
    assert chance_warning(0.9, 10) is None
    with pytest.raises(ValueError, match="N >= 2"):
        mean_pairwise_cosine(np.ones((1, 3)))


def test_paired_difference_matches_the_paired_t_test():
    from scipy import stats

    from tf_wsoftmax.eval import paired_difference

    rng = np.random.default_rng(3)
    baseline = 0.9 + 0.01 * rng.normal(size=6)
    for shift in (0.0, 0.004, 0.02):
        values = baseline + shift + 0.003 * rng.normal(size=6)
        result = paired_difference(values, baseline)
        # The 95 % interval excludes 0 exactly when the two-sided paired t-test rejects at 5 %.
        p_value = stats.ttest_rel(values, baseline).pvalue
        assert result["resolved"] == (p_value < 0.05)
        np.testing.assert_allclose(result["mean"], np.mean(values - baseline), rtol=1e-12)
        np.testing.assert_allclose((result["low"] + result["high"]) / 2, result["mean"], rtol=1e-9)
        # Half-width by hand: t_{0.975, 5} = 2.5706 (tables), sd with ddof 1.
        half = 2.570582 * np.std(values - baseline, ddof=1) / np.sqrt(6)
        np.testing.assert_allclose(result["high"] - result["mean"], half, rtol=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        paired_difference([0.9], [0.8])
    with pytest.raises(ValueError, match="paired"):
        paired_difference([0.9, 0.8], [0.8])


def test_identical_differences_are_not_called_resolved():
    from tf_wsoftmax.eval import paired_difference

    result = paired_difference([0.91, 0.92, 0.93], [0.90, 0.91, 0.92])
    assert result["sd"] < 1e-12 and not result["resolved"]
