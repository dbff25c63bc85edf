"""Full train-step throughput of the paper's backbones per loss (`tf-wsoftmax bench step`)."""

import resource
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.models import build_backbone
from tf_wsoftmax.models import build_face_embedder
from tf_wsoftmax.training import TrainStep

NETWORKS = {
    "mnist": ((28, 28, 1), 10),
    "cifar10": ((32, 32, 3), 10),
    "face": ((112, 112, 3), 10575),
}


def peak_memory_mb():
    """Peak GPU memory of GPU:0 if there is one, else the process's peak RSS (MiB)."""
    if tf.config.list_physical_devices("GPU"):
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def time_step(network, loss, batch, jit_compile=False, warmup=2, repeats=10, seed=0):
    """Images per second of one `TrainStep` (forward, backward, SGD update).

    Returns:
        A record dict: network, loss, jit_compile, batch, median_ms,
        images_per_s, peak_memory_mb.
    """
    shape, classes = NETWORKS[network]
    keras.utils.set_random_seed(seed)
    if network == "face":
        backbone = build_face_embedder(128, shape[0], "mobilenet_v3_small")
    else:
        backbone = build_backbone(network, shape)
    head, feature_loss = build_loss(loss, classes)
    step = TrainStep(backbone, head, keras.optimizers.SGD(0.01, momentum=0.9), jit_compile, feature_loss)
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.normal(size=(batch,) + shape), tf.float32)
    labels = tf.constant(rng.integers(0, classes, size=batch), tf.int32)
    for _ in range(warmup):
        float(step(images, labels)["loss"])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        float(step(images, labels)["loss"])
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    return {
        "network": network,
        "loss": loss,
        "jit_compile": jit_compile,
        "batch": batch,
        "median_ms": 1000.0 * median,
        "images_per_s": batch / median,
        "peak_memory_mb": peak_memory_mb(),
    }


def markdown(records):
    """Markdown table of step records with the ratio to the softmax step of the same setting."""
    baseline = {(r["network"], r["jit_compile"], r["batch"]): r["median_ms"] for r in records if r["loss"] == "softmax"}
    lines = [
        "| network | loss | jit | B | median ms | images/s | x softmax step | peak MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        base = baseline.get((r["network"], r["jit_compile"], r["batch"]))
        ratio = f"{r['median_ms'] / base:.3f}" if base else "-"
        lines.append(
            f"| {r['network']} | {r['loss']} | {r['jit_compile']} | {r['batch']} | {r['median_ms']:.1f} | "
            f"{r['images_per_s']:.1f} | {ratio} | {r['peak_memory_mb']:.0f} |"
        )
    return "\n".join(lines)
