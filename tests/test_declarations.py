"""Hyperparameters are declared once (`tf_wsoftmax.declarations`), as plain data every consumer reads."""

import inspect
import subprocess
import sys

import pytest

from tf_wsoftmax import declarations
from tf_wsoftmax import layers
from tf_wsoftmax.losses import LOSSES
from tf_wsoftmax.losses import build_loss


def test_the_declarations_import_without_keras():
    code = "import sys, tf_wsoftmax.declarations; assert 'keras' not in sys.modules, sorted(sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", list(LOSSES))
def test_registry_builds_layers_with_the_declared_defaults(name):
    head, feature_loss = build_loss(name, 4)
    for h in declarations.LOSS_DECLARATIONS[name].hyperparameters:
        layer = head if h.target == "head" else feature_loss
        assert layer.get_config()[h.argument_name] == h.default, (name, h.name)
    for argument, value in declarations.LOSS_DECLARATIONS[name].head_arguments:
        assert head.get_config()[argument] == value, (name, argument)


def test_normalized_softmax_is_the_wsoftmax_head_made_with_alpha_zero():
    """The registry's one fixed head argument: normalised softmax is `NormalizedDense(alpha=0)`,
    which has no weight bias (no alpha weight, no cosine product); W-Softmax's default alpha is 1."""
    head, _ = build_loss("normalized_softmax", 4)
    assert head.alpha == 0.0 and not head.weight_bias
    head.build((None, 3))
    assert [w.name for w in head.weights if w.name == "alpha"] == []
    wsoftmax, _ = build_loss("wsoftmax", 4)
    assert wsoftmax.alpha == 1.0 == layers.NormalizedDense(4).alpha and wsoftmax.weight_bias


@pytest.mark.parametrize("name", list(LOSSES))
def test_layer_constructors_default_to_the_declarations(name):
    """A layer built with no hyperparameters equals the registry's: no second copy of a default."""
    declaration = declarations.LOSS_DECLARATIONS[name]
    for target, class_name in (("head", declaration.head), ("feature_loss", declaration.feature_loss)):
        if class_name in (None, "Dense"):
            continue
        parameters = {}  # a class's own arguments over those of its bases (sample_rate is MarginHead's)
        for cls in reversed(getattr(layers, class_name).__mro__):
            if "__init__" in vars(cls):
                parameters.update(inspect.signature(cls.__init__).parameters)
        for h in declaration.hyperparameters:
            if h.target == target:
                assert parameters[h.argument_name].default == h.default, (name, h.name)


def test_check_refuses_wrong_types_and_bounds_by_name():
    scale = declarations.declaration_of("cosface", "scale")
    assert scale.check(16) == 16.0
    for value in (0.0, -1.0, float("nan"), float("inf"), "16", True):
        with pytest.raises(ValueError, match="`scale` must be a finite number > 0"):
            scale.check(value)
    margin = declarations.declaration_of("lsoftmax", "multiplicative_margin")
    with pytest.raises(ValueError, match="`margin` must be an int one of 1, 2, 3, 4"):
        margin.check(5)
    with pytest.raises(ValueError, match="bias_gradient"):
        declarations.declaration_of("wsoftmax", "bias_gradient").check("exact")
    assert declarations.declaration_of("arcface", "angular_margin").bounds_text() == "in [0, 1.5708)"
