"""Runs Partial FC (sample_rate 0.3) class-sharded on 8 virtual CPU devices and prints a JSON report.

Started by tests/test_partial_fc_distribution.py in a subprocess with the
environment of `tests.backends.sharded_worker.ENVIRONMENT` (KERAS_BACKEND=jax,
8 virtual host devices, JAX_ENABLE_X64=1). Each case trains the same model a
few `fit` steps on one device and on a (2 data x 4 model) mesh with the
head's class-major (K, d) kernel split along K (its axis 0); the sampled
rows' gather and the update's scatter are left to XLA's partitioner. Three
cases draw per block of K / 4 classes (`sample_blocks=4`, each device's rows
its own), two draw once over all K.
"""

import json
import sys

import keras
import numpy as np

from tests.backends.sharded_worker import ENVIRONMENT
from tf_wsoftmax import declarations
from tf_wsoftmax import distribution
from tf_wsoftmax.app.bench import memory
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.training import LazyColumnSGD
from tf_wsoftmax.training import MarginClassifier
from tf_wsoftmax.training import paper_kernel_regularizer

CLASSES = 80  # rate 0.3: 24 columns a step, split 4 ways like the kernel
SAMPLE_RATE = 0.3
BATCH = 8
MODEL_SHARDS = 4
CASES = {
    "wsoftmax_stop": ("wsoftmax", {"bias_gradient": "stop", "sample_blocks": MODEL_SHARDS}),
    "wsoftmax_full": ("wsoftmax", {"bias_gradient": "full"}),
    "normalized_softmax": ("normalized_softmax", {"sample_blocks": MODEL_SHARDS}),
    "cosface": ("cosface", {}),
    "arcface": ("arcface", {"sample_blocks": MODEL_SHARDS}),
}


def margin_classifier(case):
    keras.utils.set_random_seed(0)
    name, params = CASES[case]
    head, _ = build_loss(name, CLASSES, sample_rate=SAMPLE_RATE, **params)
    head.kernel_regularizer = paper_kernel_regularizer()  # the sampled columns' decay (set before build)
    backbone = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="fc")], name="backbone")
    model = MarginClassifier(backbone, head, name="classifier")
    model.compile(optimizer=LazyColumnSGD(0.1, momentum=0.9))
    return model


def train(case, data):
    model = margin_classifier(case)
    history = model.fit(*data, batch_size=BATCH, epochs=1, verbose=0, shuffle=False).history
    specs = {v.path: getattr(v.value.sharding, "spec", None) for v in model.variables}
    shardings = {path: None if spec is None else list(spec) for path, spec in specs.items()}
    momentum = next(np.asarray(v) for v in model.optimizer.variables if v.path.endswith("head_kernel_momentum"))
    return history["loss"], [np.asarray(v) for v in model.variables], momentum, shardings


def main():
    if keras.backend.backend() != "jax" or len(keras.distribution.list_devices()) != 8:
        sys.exit(f"run with the environment {ENVIRONMENT}")
    keras.config.set_floatx("float64")
    # Several row chunks per step (strided over the batch, which the mesh splits over "data"), and
    # other chunkings on one device than on the mesh (chunks count the classes per device): the
    # chunked objective must still equal one device's.
    default_budget, declarations.CHUNK_LOGITS = declarations.CHUNK_LOGITS, 12
    rng = np.random.default_rng(0)
    data = (rng.normal(size=(4 * BATCH, 6)), rng.integers(0, CLASSES, 4 * BATCH).astype("int32"))
    mesh = keras.distribution.DeviceMesh((2, MODEL_SHARDS), ("data", "model"), keras.distribution.list_devices())
    report = {"devices": len(keras.distribution.list_devices()), "steps": len(data[1]) // BATCH, "cases": {}}
    for case in CASES:
        keras.distribution.set_distribution(None)
        single_losses, single_weights, single_momentum, _ = train(case, data)
        initial_kernel = np.asarray(margin_classifier(case).head.kernel)
        keras.distribution.set_distribution(distribution.class_sharded_distribution(margin_classifier(case), mesh))
        sharded_losses, sharded_weights, sharded_momentum, shardings = train(case, data)
        keras.distribution.set_distribution(None)
        kernel = next(w for w in single_weights if w.shape == initial_kernel.shape)
        report["cases"][case] = {
            "single_losses": single_losses,
            "sharded_losses": sharded_losses,
            "max_weight_difference": max(float(np.abs(a - b).max()) for a, b in zip(single_weights, sharded_weights)),
            "max_momentum_difference": float(np.abs(single_momentum - sharded_momentum).max()),
            "max_abs_weight": max(float(np.abs(a).max()) for a in single_weights if a.dtype.kind == "f"),
            "max_kernel_movement": float(np.abs(kernel - initial_kernel).max()),
            "moved_columns": int(np.sum(np.abs(kernel - initial_kernel).sum(1) > 0)),  # class-major: rows
            "shardings": shardings,
        }
    keras.config.set_floatx("float32")
    declarations.CHUNK_LOGITS = default_budget
    report["memory"] = [
        memory.analyse_step("arcface", 4096, 128, 64, MODEL_SHARDS, sample_rate=rate, sample_blocks=blocks)
        for rate, blocks in ((1.0, None), (0.1, 1), (0.1, MODEL_SHARDS))
    ]
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()
