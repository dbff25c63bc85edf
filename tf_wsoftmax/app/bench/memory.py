"""Per-device memory of a class-sharded head's train step (`tf-wsoftmax bench memory`).

The step is the head's loss, its gradients and an SGD-with-momentum update of
the (d, K) kernel and its momentum, `jax.jit`-compiled over a ("data",
"model") device mesh with the kernel and momentum split along K (the layout
`tf_wsoftmax.distribution.class_sharded_layout` gives a model's heads) and
the batch split over "data". XLA compiles it for abstract inputs
(`jax.ShapeDtypeStruct`), so nothing is allocated and K = 10^7 can be
analysed on any machine; `memory_analysis()` of the compiled step gives the
bytes each device holds. Needs the JAX backend and as many devices as the
mesh (on a CPU: XLA_FLAGS=--xla_force_host_platform_device_count=8).

With a sample rate < 1 (Partial FC) the step draws round(rate K) classes
(`tf_wsoftmax.ops.sample_classes`, every batch class kept), gathers their
columns, scores those, and updates only the columns with a gradient (the
kernel and momentum stay unchanged elsewhere, as `LazyColumnSGD` does).
"""

import keras
import numpy as np

from tf_wsoftmax import ops
from tf_wsoftmax.declarations import SAMPLE_RATE
from tf_wsoftmax.declarations import default_of

MOMENTUM = 0.9
LEARNING_RATE = 0.01

# The margin heads' logits as the layers compute them (the same ops, the registry's defaults),
# written on the kernel tensor itself: a head layer of K = 10^7 classes would allocate its
# kernel, and this analysis compiles for abstract inputs only.
HEAD_LOGITS = {
    "wsoftmax": lambda x, w, y: ops.wsoftmax_logits(x, w, y, default_of("wsoftmax", "alpha"), "stop"),
    "wsoftmax_full": lambda x, w, y: ops.wsoftmax_logits(x, w, y, default_of("wsoftmax", "alpha"), "full"),
    "cosface": lambda x, w, y: ops.cosface_logits(
        x, w, y, default_of("cosface", "scale"), default_of("cosface", "cosine_margin")
    ),
    "arcface": lambda x, w, y: ops.arcface_logits(
        x, w, y, default_of("arcface", "scale"), default_of("arcface", "angular_margin")
    ),
}


def _sampled_logits(head, features, kernel, labels, num_sampled, column_sharding):
    """(logits, labels) of the head over the classes drawn for this batch (seed 0, step 0).

    The gathered (d, W) columns are laid out like the kernel (split along the sampled classes),
    as the layers do under `keras.distribution` (`MarginHead.training_pass`).
    """
    import jax

    classes, sampled_labels, valid = ops.sample_classes(labels, kernel.shape[1], num_sampled, 0, 0)
    columns = jax.lax.with_sharding_constraint(keras.ops.take(kernel, classes, axis=1), column_sharding)
    return ops.mask_padding(HEAD_LOGITS[head](features, columns, sampled_labels), valid), sampled_labels


def _step_function(head, sample_rate=1.0, column_sharding=None):
    import jax

    def loss(kernel, features, labels):
        if sample_rate == 1.0:
            logits = HEAD_LOGITS[head](features, kernel, labels)
        else:
            num_sampled = ops.num_sampled_classes(sample_rate, kernel.shape[1])
            logits, labels = _sampled_logits(head, features, kernel, labels, num_sampled, column_sharding)
        return keras.ops.mean(ops.sparse_softmax_cross_entropy(labels, keras.ops.cast(logits, "float32")))

    def step(kernel, momentum, features, labels):
        value, (kernel_gradient, feature_gradient) = jax.value_and_grad(loss, argnums=(0, 1))(
            kernel, features, labels
        )
        new_momentum = MOMENTUM * momentum - LEARNING_RATE * kernel_gradient  # keras.optimizers.SGD's rule
        if sample_rate == 1.0:
            return kernel + new_momentum, new_momentum, value, feature_gradient
        touched = jax.numpy.any(kernel_gradient != 0, axis=0)[None, :]  # LazyColumnSGD: the sampled columns
        new_momentum = jax.numpy.where(touched, new_momentum, momentum)
        return jax.numpy.where(touched, kernel + new_momentum, kernel), new_momentum, value, feature_gradient

    return step


def _execute(compiled, shardings, shapes, dtype, repeats=2):
    """Runs the compiled step on real sharded arrays; returns (median ms, per-device peak bytes or None)."""
    import statistics
    import time

    import jax

    kernel_sharding, feature_sharding, label_sharding = shardings
    (dim, classes), batch = shapes
    key = jax.random.PRNGKey(0)
    make = jax.jit(
        lambda: (
            (0.01 * jax.random.normal(key, (dim, classes))).astype(dtype),
            jax.numpy.zeros((dim, classes), dtype),
            jax.random.normal(key, (batch, dim)),
            jax.random.randint(key, (batch,), 0, classes),
        ),
        out_shardings=(kernel_sharding, kernel_sharding, feature_sharding, label_sharding),
    )
    kernel, momentum, features, labels = make()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        kernel, momentum, loss, _ = compiled(kernel, momentum, features, labels)
        loss.block_until_ready()
        times.append(1000.0 * (time.perf_counter() - started))
    stats = kernel.sharding.mesh.devices.flat[0].memory_stats() or {}
    return statistics.median(times), stats.get("peak_bytes_in_use")


def analyse_step(head, classes, dim, batch, model_shards, dtype="float32", devices=None, execute=False,
                 sample_rate=1.0):
    """Compiles one sharded train step for abstract inputs and reads its per-device memory.

    Args:
        head: a key of `HEAD_LOGITS` (e.g. "wsoftmax", "cosface").
        classes, dim, batch: K, d, B.
        model_shards: devices K is split over; the rest of the devices split the batch.
        dtype: the kernel's dtype.
        devices: the devices to use. Defaults to all of `jax.devices()`.
        execute: also run the step twice on real (random) sharded arrays
            and record its time, the first device's peak bytes where the
            platform reports them (GPUs; virtual CPU devices do not), and the
            process's peak resident memory.
        sample_rate: Partial FC's rate in (0, 1]. Defaults to 1.0.

    Returns:
        A record: the shape, mesh, the class matrices' bytes per device as
        computed (kernel + momentum, d K bytes / shards each), and XLA's
        per-device argument, output, alias and temporary bytes and their peak
        (arguments + outputs - aliased + temporaries).
    """
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec

    sample_rate = SAMPLE_RATE.check(sample_rate)
    devices = list(jax.devices() if devices is None else devices)
    if len(devices) % model_shards:
        raise ValueError(
            f"{len(devices)} device{'' if len(devices) == 1 else 's'} cannot be split into {model_shards} model "
            f"shards (the devices must be a multiple of the shards). On a CPU, give JAX virtual devices: start "
            f"the process with XLA_FLAGS=--xla_force_host_platform_device_count={model_shards} (or a multiple) "
            "in its environment."
        )
    data_shards = len(devices) // model_shards
    if classes % model_shards or batch % data_shards:
        raise ValueError(f"K={classes} and B={batch} must divide by the shards ({model_shards} model, {data_shards} data).")
    mesh = jax.sharding.Mesh(np.array(devices).reshape(data_shards, model_shards), ("data", "model"))
    by_class = NamedSharding(mesh, PartitionSpec(None, "model"))
    by_batch = NamedSharding(mesh, PartitionSpec("data", None))
    labels_by_batch = NamedSharding(mesh, PartitionSpec("data"))
    replicated = NamedSharding(mesh, PartitionSpec())
    kernel = jax.ShapeDtypeStruct((dim, classes), dtype, sharding=by_class)
    features = jax.ShapeDtypeStruct((batch, dim), "float32", sharding=by_batch)
    labels = jax.ShapeDtypeStruct((batch,), "int32", sharding=labels_by_batch)
    step = jax.jit(
        _step_function(head, sample_rate, by_class),
        out_shardings=(by_class, by_class, replicated, by_batch),
        donate_argnums=(0, 1),
    )
    compiled = step.lower(kernel, kernel, features, labels).compile()
    analysis = compiled.memory_analysis()
    itemsize = np.dtype(dtype).itemsize
    record = {
        "loss": head,
        "classes": classes,
        "dim": dim,
        "batch": batch,
        "dtype": str(dtype),
        "devices": len(devices),
        "device": getattr(devices[0], "device_kind", devices[0].platform),
        "model_shards": model_shards,
        "data_shards": data_shards,
        "sample_rate": sample_rate,
        "computed_class_matrices_bytes": 2 * dim * classes * itemsize // model_shards,
    }
    for key in ("argument", "output", "alias", "temp"):
        record[f"{key}_bytes"] = int(getattr(analysis, f"{key}_size_in_bytes"))
    record["peak_bytes"] = record["argument_bytes"] + record["output_bytes"] - record["alias_bytes"] + record["temp_bytes"]
    if execute:
        import resource

        record["executed_step_ms"], record["device_peak_bytes"] = _execute(
            compiled, (by_class, by_batch, labels_by_batch), ((dim, classes), batch), dtype
        )
        record["process_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return record


def _gib(value):
    return f"{value / 2**30:.3f}"


def markdown(records):
    """Markdown table of `analyse_step` records (GiB per device)."""
    lines = [
        "| loss | K | d | B | rate | devices (data x model) | kernel + momentum, computed | arguments | temporaries "
        "| peak | ran: ms, device peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ran = "-"
        if "executed_step_ms" in r:
            device_peak = r["device_peak_bytes"]
            ran = f"{r['executed_step_ms']:.1f}, " + ("n/a" if device_peak is None else _gib(device_peak))
        lines.append(
            f"| {r['loss']} | {r['classes']} | {r['dim']} | {r['batch']} | {r.get('sample_rate', 1.0):g} | "
            f"{r['data_shards']} x {r['model_shards']} | "
            f"{_gib(r['computed_class_matrices_bytes'])} | {_gib(r['argument_bytes'])} | {_gib(r['temp_bytes'])} | "
            f"{_gib(r['peak_bytes'])} | {ran} |"
        )
    return "\n".join(lines) + "\n\nGiB per device; XLA's memory_analysis() of the compiled step."
