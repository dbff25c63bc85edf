"""Runs class-sharded training on 8 virtual CPU devices and prints a JSON report.

Started by tests/test_distribution.py in a subprocess whose environment sets
KERAS_BACKEND=jax, XLA_FLAGS=--xla_force_host_platform_device_count=8 and
JAX_ENABLE_X64=1 (all must be set before JAX and Keras are imported, so the parent sets them;
importing this module changes no environment).
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np

from tf_wsoftmax import declarations
from tf_wsoftmax import distribution
from tf_wsoftmax.app.bench import memory
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import WSoftmaxLoss
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.training import MarginClassifier

ENVIRONMENT = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=8", "JAX_ENABLE_X64": "1"}


def run_worker(module):
    """Runs `python -m module` with `ENVIRONMENT` and returns the JSON report it prints.

    Args:
        module: a worker module (this one, or another that prints a report).

    Returns:
        The parsed report.
    """
    result = subprocess.run(
        [sys.executable, "-m", module], env=dict(os.environ, **ENVIRONMENT), capture_output=True, text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)

CLASSES = 16
CASES = {
    "wsoftmax_stop": ("wsoftmax", {"bias_gradient": "stop"}),
    "wsoftmax_full": ("wsoftmax", {"bias_gradient": "full"}),
    "cosface": ("cosface", {}),
    "arcface": ("arcface", {}),
    "center": ("center", {}),
    "contrastive_center": ("contrastive_center", {}),
}


def margin_classifier(case):
    keras.utils.set_random_seed(0)
    name, params = CASES[case]
    head, feature_loss = build_loss(name, CLASSES, **params)
    backbone = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="fc")], name="backbone")
    model = MarginClassifier(backbone, head, feature_loss, name="classifier")
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
    return model


def compiled_wsoftmax_loss(case):
    keras.utils.set_random_seed(0)
    head = NormalizedDense(CLASSES, alpha=1.0, bias_gradient="stop", name="head")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="fc"), head], name="plain")
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss=WSoftmaxLoss(head))
    return model


def train(make, case, data):
    model = make(case)
    history = model.fit(*data, batch_size=16, epochs=2, verbose=0, shuffle=False).history
    specs = {v.path: getattr(v.value.sharding, "spec", None) for v in model.variables}
    shardings = {path: None if spec is None else list(spec) for path, spec in specs.items()}  # [] = replicated
    return history["loss"], [np.asarray(v) for v in model.variables], shardings


def main():
    if keras.backend.backend() != "jax" or len(keras.distribution.list_devices()) != 8:
        sys.exit(f"run with the environment {ENVIRONMENT}")
    # The equality cases run in float64 (JAX_ENABLE_X64): sharded and one-device steps sum in
    # different orders, and float64 leaves that difference far below any real disagreement.
    keras.config.set_floatx("float64")
    # Several row chunks per step (strided over the batch, which the mesh splits over "data"), and
    # other chunkings on one device than on the mesh (chunks count the classes per device): the
    # chunked objective must still equal one device's.
    default_budget, declarations.CHUNK_LOGITS = declarations.CHUNK_LOGITS, 16
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(48, 6)), rng.integers(0, CLASSES, 48).astype("int32"))
    mesh = keras.distribution.DeviceMesh((2, 4), ("data", "model"), keras.distribution.list_devices())
    report = {"devices": len(keras.distribution.list_devices()), "cases": {}, "memory": []}
    makers = {case: margin_classifier for case in CASES} | {"compile_wsoftmax_loss": compiled_wsoftmax_loss}
    for case, make in makers.items():
        keras.distribution.set_distribution(None)
        single_losses, single_weights, _ = train(make, case, data)
        initial_weights = [np.asarray(v) for v in make(case).variables]
        keras.distribution.set_distribution(distribution.class_sharded_distribution(make(case), mesh))
        sharded_losses, sharded_weights, shardings = train(make, case, data)
        keras.distribution.set_distribution(None)
        report["cases"][case] = {
            "single_losses": single_losses,
            "sharded_losses": sharded_losses,
            "max_weight_difference": max(float(np.abs(a - b).max()) for a, b in zip(single_weights, sharded_weights)),
            "max_weight_movement": max(float(np.abs(a - b).max()) for a, b in zip(single_weights, initial_weights)),
            "max_abs_weight": max(float(np.abs(a).max()) for a in single_weights),
            "dtypes": sorted({str(a.dtype) for a in single_weights}),
            "steps": 2 * len(data[1]) // 16,
            "shardings": shardings,
        }
    keras.config.set_floatx("float32")
    declarations.CHUNK_LOGITS = default_budget
    for head in ("wsoftmax", "wsoftmax_full", "cosface", "arcface"):
        for shards in (1, 2, 4, 8):
            report["memory"].append(memory.analyse_step(head, 4096, 128, 64, shards))
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
