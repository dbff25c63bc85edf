"""TrainStep with a one-layer backbone at K=10575, d=512, B=256: a head-dominated full train step.
Same API in both trees. Prints JSON records."""
import json, statistics, sys, time
import numpy as np, keras, tensorflow as tf
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.training import TrainStep
K, D, B = 10575, 512, 256
out = []
for loss in sys.argv[1].split(","):
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        backbone = keras.Sequential([keras.Input((D,)), keras.layers.Dense(D)])
        head, fl = build_loss(loss, K)
        step = TrainStep(backbone, head, keras.optimizers.SGD(0.01, momentum=0.9), jit, fl)
        rng = np.random.default_rng(0)
        x = tf.constant(rng.normal(size=(B, D)), tf.float32); y = tf.constant(rng.integers(0, K, B), tf.int32)
        for _ in range(3): float(step(x, y)["loss"])
        times = []
        for _ in range(15):
            t = time.perf_counter(); float(step(x, y)["loss"]); times.append(1000 * (time.perf_counter() - t))
        out.append({"loss": loss, "jit": jit, "median_ms": statistics.median(times), "min_ms": min(times)})
print(json.dumps(out))
