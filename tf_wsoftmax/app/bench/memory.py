"""Per-device memory of a head's train step, replicated or class-sharded (`tf-wsoftmax bench memory`).

The step is the library's own (`head_step.jax_step`): the registry head's training objective
(`compute_objective`, chunked: no (B, K) matrix), its gradients and the optimizer's update of the
class matrices (SGD with momentum 0.9; `LazyColumnSGD` for a class-sampling head), `jax.jit`-compiled
over a ("data", "model") device mesh under a `keras.distribution.ModelParallel` that splits the
class matrices along K over "model" (the layout `tf_wsoftmax.distribution.class_sharded_layout`
gives a model's heads) and the batch over "data". The head and the optimizer are made without
allocating their variables (`keras.StatelessScope(initialize_variables=False)`) and XLA compiles
the step for abstract inputs (`jax.ShapeDtypeStruct`), so K = 10^7 can be analysed on any machine;
`memory_analysis()` of the compiled step gives the bytes each device holds. Needs the JAX backend
and as many devices as the mesh (on a CPU: XLA_FLAGS=--xla_force_host_platform_device_count=8).
"""

import keras
import numpy as np

from tf_wsoftmax.app.bench import head_step
from tf_wsoftmax.app.bench.heads import VARIANTS
from tf_wsoftmax.declarations import SAMPLE_RATE
from tf_wsoftmax.losses import build_loss


def _make(head, classes, sample_rate, sample_blocks=1):
    """The registry head `head` (bench variants too) and its centre layer, K classes."""
    loss, params = VARIANTS.get(head, (head, {}))
    if sample_rate != 1.0:
        params = dict(params, sample_rate=sample_rate, sample_blocks=sample_blocks)
    return build_loss(loss, classes, **params)


def _partition(shape, classes, dim):
    """How a value of the step is split: class matrices along K ("model"), the rest whole."""
    from jax.sharding import PartitionSpec

    if tuple(shape) == (dim, classes):
        return PartitionSpec(None, "model")
    if tuple(shape) == (classes, dim):
        return PartitionSpec("model", None)
    if tuple(shape) == (classes,):
        return PartitionSpec("model")
    return PartitionSpec()


def _execute(compiled, state, shardings, shapes, repeats=2):
    """Runs the compiled step on real sharded arrays; returns (median ms, per-device peak bytes or None)."""
    import statistics
    import time

    import jax

    (batch, dim), classes = shapes
    key = jax.random.PRNGKey(0)
    values = []
    for group, group_shardings in zip(state, shardings[:3]):
        values.append([
            jax.device_put((0.01 * jax.random.normal(key, v.shape)).astype(v.dtype) if v.ndim == 2 else
                           jax.numpy.zeros(v.shape, v.dtype), s)
            for v, s in zip(group, group_shardings)
        ])
    features = jax.device_put(jax.random.normal(key, (batch, dim)), shardings[3])
    labels = jax.device_put(jax.random.randint(key, (batch,), 0, classes), shardings[4])
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = compiled(*values, features, labels)
        outputs[3].block_until_ready()
        values = list(outputs[:3])
        times.append(1000.0 * (time.perf_counter() - started))
    device = features.sharding.mesh.devices.flat[0]
    stats = device.memory_stats() or {}
    return statistics.median(times), stats.get("peak_bytes_in_use")


def analyse_step(head, classes, dim, batch, model_shards, dtype="float32", devices=None, execute=False,
                 sample_rate=1.0, sample_blocks=None):
    """Compiles one sharded train step of `head` for abstract inputs and reads its per-device memory.

    Args:
        head: a registry loss (or bench variant, e.g. "wsoftmax_full").
        classes, dim, batch: K, d, B.
        model_shards: devices K is split over; the rest of the devices split the batch.
        dtype: the variables' dtype (the layers' policy).
        devices: the devices to use. Defaults to all of `jax.devices()`.
        execute: also run the step twice on real (random) sharded arrays
            and record its time, the first device's peak bytes where the
            platform reports them (GPUs; virtual CPU devices do not), and the
            process's peak resident memory.
        sample_rate: Partial FC's rate in (0, 1]. Defaults to 1.0.
        sample_blocks: the head's `sample_blocks` when it samples. Defaults
            to None: `model_shards` (each device draws from its own classes).

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
    mesh = keras.distribution.DeviceMesh((data_shards, model_shards), ("data", "model"), devices)
    jax_mesh = jax.sharding.Mesh(np.array(devices).reshape(data_shards, model_shards), ("data", "model"))
    layout_map = keras.distribution.LayoutMap(mesh)
    class_major = sample_rate < 1.0  # a sampling head's kernel is (K, d): `MarginHead.class_major`
    kernel_axes = ("model", None) if class_major else (None, "model")
    for weight, axes in (("kernel", kernel_axes), ("bias", ("model",)), ("centers", ("model", None))):
        layout_map[f"(.*/)?head(_centers)?/{weight}"] = axes
    previous_policy = keras.config.dtype_policy()
    keras.distribution.set_distribution(keras.distribution.ModelParallel(layout_map=layout_map, batch_dim_name="data"))
    keras.config.set_dtype_policy(dtype)
    try:
        if sample_rate == 1.0:
            sample_blocks = 1
        elif sample_blocks is None:
            sample_blocks = model_shards
        layer, feature_loss = _make(head, classes, sample_rate, sample_blocks)
        with keras.StatelessScope(initialize_variables=False):  # nothing of K size is allocated
            layer.build((None, dim))
            if feature_loss is not None:
                feature_loss.build((None, dim))
        optimizer = head_step.make_optimizer(layer)  # its scalars are made here, its slots lazily below
        with keras.StatelessScope(initialize_variables=False):
            optimizer.build(layer.trainable_variables)
        state = head_step.jax_state(layer, feature_loss, optimizer)
        state_shardings = [
            [NamedSharding(jax_mesh, _partition(v.shape, classes, dim)) for v in group] for group in state
        ]
        by_batch = NamedSharding(jax_mesh, PartitionSpec("data", None))
        labels_by_batch = NamedSharding(jax_mesh, PartitionSpec("data"))
        abstract = [
            [jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=s) for v, s in zip(group, shardings)]
            for group, shardings in zip(state, state_shardings)
        ]
        features = jax.ShapeDtypeStruct((batch, dim), "float32", sharding=by_batch)
        labels = jax.ShapeDtypeStruct((batch,), "int32", sharding=labels_by_batch)
        step = jax.jit(
            head_step.jax_step(layer, feature_loss, optimizer),
            out_shardings=tuple(state_shardings) + (NamedSharding(jax_mesh, PartitionSpec()), by_batch),
            donate_argnums=(0, 1, 2),
        )
        with keras.StatelessScope(initialize_variables=False):
            compiled = step.lower(*abstract, features, labels).compile()
        analysis = compiled.memory_analysis()
        itemsize = np.dtype(layer.kernel.dtype).itemsize
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
            "sample_blocks": sample_blocks,
            "computed_class_matrices_bytes": 2 * dim * classes * itemsize // model_shards,
        }
        for key in ("argument", "output", "alias", "temp"):
            record[f"{key}_bytes"] = int(getattr(analysis, f"{key}_size_in_bytes"))
        record["peak_bytes"] = (
            record["argument_bytes"] + record["output_bytes"] - record["alias_bytes"] + record["temp_bytes"]
        )
        if execute:
            import resource

            record["executed_step_ms"], record["device_peak_bytes"] = _execute(
                compiled, state, state_shardings + [by_batch, labels_by_batch], ((batch, dim), classes)
            )
            record["process_peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return record
    finally:
        keras.distribution.set_distribution(None)
        keras.config.set_dtype_policy(previous_policy)


def _gib(value):
    return f"{value / 2**30:.3f}"


def markdown(records):
    """Markdown table of `analyse_step` records (GiB per device)."""
    lines = [
        "| loss | K | d | B | rate | draw blocks | devices (data x model) | kernel + momentum, computed | arguments | temporaries "
        "| peak | ran: ms, device peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        ran = "-"
        if "executed_step_ms" in r:
            device_peak = r["device_peak_bytes"]
            ran = f"{r['executed_step_ms']:.1f}, " + ("n/a" if device_peak is None else _gib(device_peak))
        lines.append(
            f"| {r['loss']} | {r['classes']} | {r['dim']} | {r['batch']} | {r.get('sample_rate', 1.0):g} | "
            f"{r.get('sample_blocks', 1)} | {r['data_shards']} x {r['model_shards']} | "
            f"{_gib(r['computed_class_matrices_bytes'])} | {_gib(r['argument_bytes'])} | {_gib(r['temp_bytes'])} | "
            f"{_gib(r['peak_bytes'])} | {ran} |"
        )
    return "\n".join(lines) + "\n\nGiB per device; XLA's memory_analysis() of the compiled step."
