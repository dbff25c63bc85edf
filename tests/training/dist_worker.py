"""Subprocess body of the tf.distribute tests (TF's device setup must happen before any op).

python tests/dist_worker.py mirrored OUT.npz     2 logical CPUs: MirroredStrategy and one device
python tests/dist_worker.py worker OUT.npz       one MultiWorkerMirroredStrategy worker (TF_CONFIG set)
python tests/dist_worker.py single OUT.npz       the one-device reference of the worker runs
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

STEPS, GLOBAL_BATCH = 3, 16


def build(strategy):
    import keras

    from tf_wsoftmax.layers import CenterLossLayer
    from tf_wsoftmax.layers import NormalizedDense
    from tf_wsoftmax.training import TrainStep

    with strategy.scope():
        keras.utils.set_random_seed(0)
        backbone = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(5)])
        head = NormalizedDense(4, alpha=1.0)
        centers = CenterLossLayer(4, weight=0.1, centers_initializer=keras.initializers.RandomNormal(seed=2))
        centers.build((None, 5))
        head.build((None, 5))
        step = TrainStep(backbone, head, keras.optimizers.SGD(0.1, momentum=0.9), feature_loss=centers)
    return backbone, head, centers, step


def batches():
    rng = np.random.default_rng(7)
    for _ in range(STEPS):
        yield rng.normal(size=(GLOBAL_BATCH, 6)), rng.integers(0, 4, GLOBAL_BATCH).astype("int32")


def train(strategy):
    backbone, head, centers, step = build(strategy)
    losses = [float(step(x, y)["loss"]) for x, y in batches()]
    weights = [np.asarray(w) for w in backbone.get_weights() + head.get_weights()]
    return {"losses": np.array(losses), "centers": np.asarray(centers.centers.numpy()),
            "iterations": np.asarray(head.iterations.numpy()), **{f"w{i}": w for i, w in enumerate(weights)}}


def fit_margin_classifier(strategy):
    import keras

    from tf_wsoftmax.layers import CenterLossLayer
    from tf_wsoftmax.layers import NormalizedDense
    from tf_wsoftmax.training import MarginClassifier

    with strategy.scope():
        keras.utils.set_random_seed(0)
        backbone = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(5)])
        model = MarginClassifier(backbone, NormalizedDense(4, alpha=1.0),
                                 CenterLossLayer(4, weight=0.1, centers_initializer=keras.initializers.RandomNormal(seed=2)))
        model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    x, y = next(batches())
    history = model.fit(x, y, batch_size=GLOBAL_BATCH, epochs=2, shuffle=False, verbose=0)
    return {"fit_loss": np.array(history.history["loss"]), "fit_centers": model.feature_loss.centers.numpy(),
            "fit_w0": model.backbone.get_weights()[0]}


def main():
    import keras

    # float64: replicas sum in another order than one device; in float64 that difference stays
    # far below any real disagreement (the tests derive their bound from it).
    keras.config.set_floatx("float64")
    mode, out = sys.argv[1], sys.argv[2]
    if mode == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        single = tf.distribute.get_strategy()
        result = {f"single_{k}": v for k, v in {**train(single), **fit_margin_classifier(single)}.items()}
        result.update({f"mirrored_{k}": v for k, v in {**train(mirrored), **fit_margin_classifier(mirrored)}.items()})
        result["replicas"] = np.array(mirrored.num_replicas_in_sync)
    elif mode == "worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        result = dict(train(strategy), replicas=np.array(strategy.num_replicas_in_sync))
    else:
        result = train(tf.distribute.get_strategy())
    np.savez(out, **result)


if __name__ == "__main__":
    main()
