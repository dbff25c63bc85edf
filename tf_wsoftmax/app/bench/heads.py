"""Forward + backward time of each classification head (`tf-wsoftmax bench heads`)."""

import statistics
import time

import numpy as np
import tensorflow as tf

from tf_wsoftmax import ops

HEADS = (
    "softmax",
    "normalized_softmax",
    "wsoftmax_stop",
    "wsoftmax_full",
    "lsoftmax_m4",
    "sphereface_m4",
    "cosface",
    "arcface",
    "center_softmax",
    "contrastive_center_softmax",
)


def _logits_and_extra(name, features, kernel, bias, centers, labels):
    """Training logits of head `name` plus its extra loss term (centre losses)."""
    extra = tf.zeros((), tf.float32)
    if name == "softmax":
        logits = tf.matmul(features, kernel) + bias
    elif name == "normalized_softmax":
        logits = ops.normalized_logits(features, kernel)
    elif name in ("wsoftmax_stop", "wsoftmax_full"):
        logits = ops.wsoftmax_logits(features, kernel, labels, 1.0, bias_gradient=name.split("_")[1])
    elif name == "lsoftmax_m4":
        logits = ops.lsoftmax_logits(features, kernel, labels, 4, lambda_=0.0)
    elif name == "sphereface_m4":
        logits = ops.sphereface_logits(features, kernel, labels, 4)
    elif name == "cosface":
        logits = ops.cosface_logits(features, kernel, labels, 64.0, 0.35)
    elif name == "arcface":
        logits = ops.arcface_logits(features, kernel, labels, 64.0, 0.5)
    else:
        logits = tf.matmul(features, kernel) + bias
        term = ops.center_loss if name == "center_softmax" else ops.contrastive_center_loss
        extra = 0.01 * tf.reduce_mean(tf.cast(term(features, centers, labels), tf.float32))
    return tf.cast(logits, tf.float32), extra


def make_step(name, jit_compile):
    """A compiled function computing the loss and its gradients for one head."""

    def step(features, kernel, bias, centers, labels):
        with tf.GradientTape() as tape:
            tape.watch([features, kernel, bias, centers])
            logits, extra = _logits_and_extra(name, features, kernel, bias, centers, labels)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)) + extra
        return loss, tape.gradient(loss, [features, kernel, bias, centers], unconnected_gradients="zero")

    return tf.function(step, jit_compile=jit_compile)


def time_head(name, classes, dim, batch, dtype="float32", jit_compile=False, warmup=3, repeats=20, seed=0):
    """Median milliseconds of one forward + backward pass of head `name`.

    Inputs are random (features, kernel, biases, centres in `dtype`; the
    library's heads compute in float32 inside); warm-up calls (tracing and
    compilation) are excluded; the median of `repeats` timed calls is
    returned, each synchronised by reading the loss back.

    Returns:
        A record dict: loss, jit_compile, classes, dim, batch, dtype, median_ms, min_ms.
    """
    rng = np.random.default_rng(seed)
    cast = lambda a: tf.cast(tf.constant(a, tf.float32), dtype)  # noqa: E731
    features = cast(rng.normal(size=(batch, dim)))
    kernel = cast(rng.normal(size=(dim, classes)) / np.sqrt(dim))
    bias = cast(np.zeros(classes))
    centers = cast(rng.normal(size=(classes, dim)))
    labels = tf.constant(rng.integers(0, classes, size=batch), tf.int32)
    step = make_step(name, jit_compile)
    for _ in range(warmup):
        float(step(features, kernel, bias, centers, labels)[0])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        loss, grads = step(features, kernel, bias, centers, labels)
        float(loss)
        _ = [g.shape for g in grads]
        times.append(1000.0 * (time.perf_counter() - started))
    return {
        "loss": name,
        "jit_compile": jit_compile,
        "classes": classes,
        "dim": dim,
        "batch": batch,
        "dtype": dtype,
        "median_ms": statistics.median(times),
        "min_ms": min(times),
    }


def sweep_shapes(classes_list, dims, include_k_minus_1=True, max_elements=None):
    """(K, d) pairs of the sweep: each d, plus K - 1 where K - 1 <= 1000."""
    shapes = []
    for k in classes_list:
        ds = list(dims) + ([k - 1] if include_k_minus_1 and k - 1 <= 1000 and k - 1 not in dims else [])
        for d in sorted(ds):
            if max_elements is None or k * d <= max_elements:
                shapes.append((k, d))
    return shapes


def markdown(records):
    """Markdown table of head records, with each head's ratio to normalised softmax."""
    baseline = {
        (r["classes"], r["dim"], r["batch"], r["dtype"], r["jit_compile"]): r["median_ms"]
        for r in records
        if r["loss"] == "normalized_softmax"
    }
    lines = [
        "| loss | jit | K | d | B | dtype | median ms | x normalised softmax |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        base = baseline.get((r["classes"], r["dim"], r["batch"], r["dtype"], r["jit_compile"]))
        ratio = f"{r['median_ms'] / base:.2f}" if base else "-"
        lines.append(
            f"| {r['loss']} | {r['jit_compile']} | {r['classes']} | {r['dim']} | {r['batch']} | "
            f"{r['dtype']} | {r['median_ms']:.2f} | {ratio} |"
        )
    return "\n".join(lines)
