"""Forward + backward time of each classification head (`tf-wsoftmax bench heads`).

The heads' math is `keras.ops` code, so the same head runs on either Keras
backend: on TensorFlow as a `tf.function` (with or without XLA) around a
`GradientTape`, on JAX as `jax.jit(jax.value_and_grad(...))`, which XLA
compiles. Only the timing harness differs per backend. The JAX harness
imports no TensorFlow, so it runs where only JAX and Keras are installed
(e.g. a GPU machine).
"""

import statistics
import time

import keras
import numpy as np

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


def loss_of_head(name, features, kernel, bias, centers, labels):
    """Mean training loss of head `name` (its cross-entropy plus its centre term).

    Args:
        name: one of `HEADS`.
        features: (B, d); kernel: (d, K); bias: (K,); centers: (K, d).
        labels: int32 (B,).

    Returns:
        float32 scalar.
    """
    extra = 0.0
    if name == "softmax":
        logits = keras.ops.matmul(features, kernel) + bias
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
        logits = keras.ops.matmul(features, kernel) + bias
        term = ops.center_loss if name == "center_softmax" else ops.contrastive_center_loss
        extra = 0.01 * keras.ops.mean(keras.ops.cast(term(features, centers, labels), "float32"))
    cross_entropy = ops.sparse_softmax_cross_entropy(labels, keras.ops.cast(logits, "float32"))
    return keras.ops.mean(cross_entropy) + extra


def _tensorflow_step(name, jit_compile):
    import tensorflow as tf

    def step(features, kernel, bias, centers, labels):
        with tf.GradientTape() as tape:
            tape.watch([features, kernel, bias, centers])
            loss = loss_of_head(name, features, kernel, bias, centers, labels)
        return loss, tape.gradient(loss, [features, kernel, bias, centers], unconnected_gradients="zero")

    return tf.function(step, jit_compile=jit_compile)


def _jax_step(name):
    import jax

    def loss(features, kernel, bias, centers, labels):
        return loss_of_head(name, features, kernel, bias, centers, labels)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))


def make_step(name, jit_compile):
    """A compiled function returning (loss, gradients w.r.t. features, kernel, bias, centres).

    Args:
        name: one of `HEADS`.
        jit_compile: XLA on TensorFlow (JAX always compiles with XLA).

    Returns:
        The step function of the current Keras backend.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_step(name, jit_compile)
    if backend == "jax":
        return _jax_step(name)
    raise ValueError(f"`bench heads` runs on the tensorflow and jax backends, not {backend!r}.")


def device_name():
    """The device the backend computes on, as it names it (e.g. "cpu", "NVIDIA H100 80GB HBM3")."""
    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return getattr(device, "device_kind", device.platform)
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    return "cpu"


def _block(outputs):
    """Waits for the step's results (JAX dispatches asynchronously; TF returns when done)."""
    loss, grads = outputs
    for value in [loss] + list(grads):
        if hasattr(value, "block_until_ready"):
            value.block_until_ready()
    return float(np.asarray(loss))


def time_head(name, classes, dim, batch, dtype="float32", jit_compile=False, warmup=3, repeats=20, seed=0):
    """Median milliseconds of one forward + backward pass of head `name`.

    Inputs are random (features, kernel, biases, centres in `dtype`; the
    library's heads compute in float32 inside); warm-up calls (tracing and
    compilation) are excluded; the median of `repeats` timed calls is
    returned, each synchronised on every output.

    Returns:
        A record dict: loss, backend, device, jit_compile, classes, dim,
        batch, dtype, median_ms, min_ms. On JAX `jit_compile` is always True.
    """
    rng = np.random.default_rng(seed)
    cast = lambda a: keras.ops.cast(keras.ops.convert_to_tensor(np.asarray(a, "float32")), dtype)  # noqa: E731
    features = cast(rng.normal(size=(batch, dim)))
    kernel = cast(rng.normal(size=(dim, classes)) / np.sqrt(dim))
    bias = cast(np.zeros(classes))
    centers = cast(rng.normal(size=(classes, dim)))
    labels = keras.ops.convert_to_tensor(rng.integers(0, classes, size=batch).astype("int32"))
    backend = keras.backend.backend()
    step = make_step(name, jit_compile)
    for _ in range(warmup):
        _block(step(features, kernel, bias, centers, labels))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        _block(step(features, kernel, bias, centers, labels))
        times.append(1000.0 * (time.perf_counter() - started))
    return {
        "loss": name,
        "backend": backend,
        "device": device_name(),
        "jit_compile": True if backend == "jax" else jit_compile,
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


def _group(record):
    """The records one ratio compares: same backend, device, shape, dtype and compilation."""
    keys = ("backend", "device", "classes", "dim", "batch", "dtype", "jit_compile")
    return tuple(record.get(key) for key in keys)


def markdown(records):
    """Markdown table of head records, with each head's ratio to normalised softmax."""
    baseline = {
        _group(r): r["median_ms"] for r in records if r["loss"] == "normalized_softmax"
    }
    lines = [
        "| loss | backend | device | jit | K | d | B | dtype | median ms | x normalised softmax |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        base = baseline.get(_group(r))
        ratio = f"{r['median_ms'] / base:.2f}" if base else "-"
        lines.append(
            f"| {r['loss']} | {r.get('backend', 'tensorflow')} | {r.get('device', '-')} | {r['jit_compile']} | "
            f"{r['classes']} | {r['dim']} | {r['batch']} | {r['dtype']} | {r['median_ms']:.2f} | {ratio} |"
        )
    return "\n".join(lines)
