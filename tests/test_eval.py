import numpy as np
import pytest

from tests import reference
from tf_wsoftmax.eval import mean_class_angles


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
