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

from tf_wsoftmax.losses import LOSSES
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.losses import compute_objective

# Every registry loss with its registry defaults, plus W-Softmax's exact-gradient reading.
VARIANTS = {"wsoftmax_full": ("wsoftmax", {"bias_gradient": "full"})}
HEADS = tuple(LOSSES) + tuple(VARIANTS)


def build_head(name, classes, dim):
    """The head and centre layer of bench entry `name`, built for d = `dim` (registry defaults).

    Returns:
        (head, feature_loss or None).
    """
    loss, params = VARIANTS.get(name, (name, {}))
    head, feature_loss = build_loss(loss, classes, **params)
    head.build((None, dim))
    if feature_loss is not None:
        feature_loss.build((None, dim))
    return head, feature_loss


def loss_of_head(layers, features, kernel, bias, centers, labels):
    """The training objective of one step (`compute_objective`) with the class matrices as inputs.

    The layers' kernel, bias and centres are replaced by the given tensors
    (`keras.StatelessScope`), so the same function is differentiated with
    respect to them on either backend; the centre update and the schedule
    step of the objective are computed and discarded.

    Args:
        layers: (head, feature_loss or None) from `build_head`.
        features: (B, d); kernel: (d, K); bias: (K,); centers: (K, d).
        labels: int32 (B,).

    Returns:
        float32 scalar.
    """
    head, feature_loss = layers
    mapping = [(head.kernel, kernel)]
    if getattr(head, "bias", None) is not None:
        mapping.append((head.bias, bias))
    if feature_loss is not None:
        mapping.append((feature_loss.centers, centers))
    with keras.StatelessScope(state_mapping=mapping):
        return compute_objective(head, features, labels, feature_loss=feature_loss)["loss"]


def _tensorflow_step(layers, jit_compile):
    import tensorflow as tf

    def step(features, kernel, bias, centers, labels):
        with tf.GradientTape() as tape:
            tape.watch([features, kernel, bias, centers])
            loss = loss_of_head(layers, features, kernel, bias, centers, labels)
        return loss, tape.gradient(loss, [features, kernel, bias, centers], unconnected_gradients="zero")

    return tf.function(step, jit_compile=jit_compile)


def _jax_step(layers):
    import jax

    def loss(features, kernel, bias, centers, labels):
        return loss_of_head(layers, features, kernel, bias, centers, labels)

    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2, 3)))


def make_step(layers, jit_compile):
    """A compiled function returning (loss, gradients w.r.t. features, kernel, bias, centres).

    Args:
        layers: (head, feature_loss or None) from `build_head`.
        jit_compile: XLA on TensorFlow (JAX always compiles with XLA).

    Returns:
        The step function of the current Keras backend.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_step(layers, jit_compile)
    if backend == "jax":
        return _jax_step(layers)
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

    The head is the registry's (`build_head`, its defaults) and the timed
    function is the library's training objective through it
    (`loss_of_head`). Inputs are random (features, kernel, biases, centres in
    `dtype`; the heads compute in float32 inside); warm-up calls (tracing and
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
    step = make_step(build_head(name, classes, dim), jit_compile)
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
