"""Forward + backward time of each classification head (`tf-wsoftmax bench heads`).

The heads' math is `keras.ops` code, so the same head runs on either Keras
backend: on TensorFlow as a `tf.function` (with or without XLA) around a
`GradientTape`, on JAX as `jax.jit(jax.value_and_grad(...))`, which XLA
compiles. Only the timing harness differs per backend. The JAX harness
imports no TensorFlow, so it runs where only JAX and Keras are installed
(e.g. a GPU machine). With `update=True` the timed step also applies the
optimizer to the class matrices (`head_step`: a head's part of a training
step). On JAX each record carries the compiled step's peak bytes (XLA's
`memory_analysis()`).
"""

import statistics
import time

import keras
import numpy as np

from tf_wsoftmax.app.bench.names import FLOOR
from tf_wsoftmax.app.bench.names import FLOOR_PRODUCTS
from tf_wsoftmax.app.bench.names import HEADS  # noqa: F401  (re-exported: `heads.HEADS`)
from tf_wsoftmax.app.bench.names import VARIANTS
from tf_wsoftmax import ops
from tf_wsoftmax.app.bench import head_step
from tf_wsoftmax.declarations import SAMPLE_RATE
from tf_wsoftmax.losses import LOSSES
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.losses import compute_objective


def samples(name):
    """Whether bench entry `name` can sample classes (Partial FC's `sample_rate`)."""
    loss, _ = VARIANTS.get(name, (name, {}))
    return loss in LOSSES and any(h.name == SAMPLE_RATE.name for h in LOSSES[loss].hyperparameters)


def build_head(name, classes, dim, sample_rate=1.0):
    """The head and centre layer of bench entry `name`, built for d = `dim` (registry defaults).

    Args:
        name, classes, dim: the entry, K and d.
        sample_rate: Partial FC's rate (heads that sample only). Defaults to 1.0.

    Returns:
        (head, feature_loss or None).
    """
    loss, params = VARIANTS.get(name, (name, {}))
    if sample_rate != 1.0:
        params = dict(params, sample_rate=sample_rate)
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
    mapping = [(head.kernel, _stored_kernel(head, kernel))]
    if getattr(head, "bias", None) is not None:
        mapping.append((head.bias, bias))
    if feature_loss is not None:
        mapping.append((feature_loss.centers, centers))
    with keras.StatelessScope(state_mapping=mapping):
        return compute_objective(head, features, labels, feature_loss=feature_loss)["loss"]


def _stored_kernel(head, kernel):
    """The (d, K) `kernel` in the layout `head` stores it: transposed for a class-major (sampling) head."""
    return keras.ops.transpose(kernel) if getattr(head, "class_major", False) else kernel


def _tensorflow_step(loss_fn, jit_compile):
    import tensorflow as tf

    def step(features, kernel, bias, centers, labels):
        with tf.GradientTape() as tape:
            tape.watch([features, kernel, bias, centers])
            loss = loss_fn(features, kernel, bias, centers, labels)
        return loss, tape.gradient(loss, [features, kernel, bias, centers], unconnected_gradients="zero")

    return tf.function(step, jit_compile=jit_compile)


def _jax_step(loss_fn):
    import jax

    return jax.jit(jax.value_and_grad(loss_fn, argnums=(0, 1, 2, 3)))


def _floor_loss(features, kernel, bias, centers, labels):
    """mean((x W)^2) / 2: one forward and two backward (B, d) x (d, K) products.

    The upstream gradient (x W) / (B K) depends on the product, so no
    compiler can fold a backward product into a reduction (as it could for
    a constant one).
    """
    del bias, centers, labels
    logits = keras.ops.matmul(features, kernel)
    return keras.ops.cast(0.5 * keras.ops.mean(keras.ops.square(logits)), "float32")  # a float32 loss, as the heads


def make_step(layers, jit_compile, loss=None):
    """A compiled function returning (loss, gradients w.r.t. features, kernel, bias, centres).

    Args:
        layers: (head, feature_loss or None) from `build_head`.
        jit_compile: XLA on TensorFlow (JAX always compiles with XLA).
        loss: a function (features, kernel, bias, centers, labels) -> scalar
            timed instead of the layers' objective (the matmul floor).

    Returns:
        The step function of the current Keras backend.
    """
    loss = loss or (lambda *tensors: loss_of_head(layers, *tensors))
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow_step(loss, jit_compile)
    if backend == "jax":
        return _jax_step(loss)
    raise ValueError(f"`bench heads` runs on the tensorflow and jax backends, not {backend!r}.")


def _step_of(name, classes, dim, jit_compile, sample_rate=1.0):
    """The timed step of head `name` (or of the matmul floor, always over all K)."""
    if name == FLOOR:
        return make_step(None, jit_compile, loss=_floor_loss)
    return make_step(build_head(name, classes, dim, sample_rate), jit_compile)


def peak_bytes(step, *arguments):
    """XLA's peak bytes of a `jax.jit` step for these arguments (arguments + outputs - aliased +
    temporaries, `memory_analysis()`); None on other backends."""
    if keras.backend.backend() != "jax":
        return None
    analysis = step.lower(*arguments).compile().memory_analysis()
    return int(
        analysis.argument_size_in_bytes + analysis.output_size_in_bytes - analysis.alias_size_in_bytes
        + analysis.temp_size_in_bytes
    )


def _runner(name, classes, dim, jit_compile, sample_rate, update, tensors):
    """(a callable taking one timed step and waiting for it, the step's peak bytes or None)."""
    if name == FLOOR or not update:
        step = _step_of(name, classes, dim, jit_compile, sample_rate)
        return (lambda: _block(step(*tensors))), peak_bytes(step, *tensors)
    layers = build_head(name, classes, dim, sample_rate)
    head, feature_loss = layers
    features, kernel, bias, centers, labels = tensors
    head.kernel.assign(_stored_kernel(head, kernel))
    if getattr(head, "bias", None) is not None:
        head.bias.assign(bias)
    if feature_loss is not None:
        feature_loss.centers.assign(centers)
    optimizer = head_step.make_optimizer(head)
    if keras.backend.backend() == "tensorflow":
        step = head_step.tensorflow_step(head, feature_loss, optimizer, jit_compile)
        return (lambda: _block(step(features, labels))), None
    import jax

    optimizer.build(head.trainable_variables)
    # Copies: the step donates its state, and the inputs (assigned to the head above) are timed again.
    state = [[keras.ops.copy(keras.ops.convert_to_tensor(v)) for v in group] for group in head_step.jax_state(*layers, optimizer)]
    step = jax.jit(head_step.jax_step(*layers, optimizer), donate_argnums=(0, 1, 2))
    peak = peak_bytes(step, *state, features, labels)

    def run():
        outputs = step(*state, features, labels)
        state[:] = outputs[:3]
        return _block(outputs[3:])

    return run, peak


def _columns(name, classes, sample_rate):
    """The classes a step of `name` scores: K, or Partial FC's round(rate K) (the batch's padding aside)."""
    return classes if name == FLOOR or sample_rate == 1.0 else ops.num_sampled_classes(sample_rate, classes)


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
    for value in [loss] + list(grads if isinstance(grads, (list, tuple)) else [grads]):
        if hasattr(value, "block_until_ready"):
            value.block_until_ready()
    return float(np.asarray(loss))


def _inputs(classes, dim, batch, dtype, seed):
    rng = np.random.default_rng(seed)
    cast = lambda a: keras.ops.cast(keras.ops.convert_to_tensor(np.asarray(a, "float32")), dtype)  # noqa: E731
    features = cast(rng.normal(size=(batch, dim)))
    kernel = cast(rng.normal(size=(dim, classes)) / np.sqrt(dim))
    bias = cast(np.zeros(classes))
    centers = cast(rng.normal(size=(classes, dim)))
    labels = keras.ops.convert_to_tensor(rng.integers(0, classes, size=batch).astype("int32"))
    return features, kernel, bias, centers, labels


def time_heads(names, classes, dim, batch, dtype="float32", jit_compile=False, warmup=3, repeats=20, rounds=3,
               seed=0, sample_rate=1.0, update=False):
    """Milliseconds of one forward + backward pass of each head, timed in interleaved rounds.

    The heads are the registry's (`build_head`, its defaults) and the timed
    function is the library's training objective through them
    (`loss_of_head`); `matmul_floor` times the bare product (`_floor_loss`).
    Inputs are random (features, kernel, biases, centres in `dtype`; the
    heads compute in float32 inside). Every step is built and warmed up
    (tracing, compilation) first; then each round times `repeats` calls of
    every head in turn, so a slow spell of a shared machine hits all heads
    alike. Each call is synchronised on every output.

    With `sample_rate` < 1 (Partial FC) only the heads that sample are
    timed (and the floor, which stays the full product): each step draws
    its classes (without `update` the same draw every call: the bench
    heads' step counter is discarded), gathers their class vectors (rows of
    its class-major kernel) and scores those; the kernel gradient is still a
    dense tensor, zero outside the sample.

    With `update` the timed step is a head's part of a training step: the
    objective on the head's own weights, the gradients and the optimizer's
    update of the class matrices (`head_step`; `LazyColumnSGD` when the
    head samples), so the draws follow the step counter as in training.

    Returns:
        One record per head: loss, backend, device, jit_compile, classes,
        dim, batch, dtype, sample_rate, update, columns (the classes a step
        scores), products (of its own floor), rounds, repeats, min_ms (over
        all calls), median_ms (the median of the rounds' medians),
        round_medians_ms, peak_bytes (XLA's peak of the compiled step on
        JAX, else None).
    """
    sample_rate = SAMPLE_RATE.check(sample_rate)
    if sample_rate != 1.0:
        names = [name for name in names if name == FLOOR or samples(name)]
    tensors = _inputs(classes, dim, batch, dtype, seed)
    backend = keras.backend.backend()
    runners = {name: _runner(name, classes, dim, jit_compile, sample_rate, update, tensors) for name in names}
    for run, _ in runners.values():
        for _ in range(warmup):
            run()
    times = {name: [] for name in names}
    for _ in range(rounds):
        for name, (run, _) in runners.items():
            calls = []
            for _ in range(repeats):
                started = time.perf_counter()
                run()
                calls.append(1000.0 * (time.perf_counter() - started))
            times[name].append(calls)
    return [
        {
            "loss": name,
            "backend": backend,
            "device": device_name(),
            "jit_compile": True if backend == "jax" else jit_compile,
            "classes": classes,
            "dim": dim,
            "batch": batch,
            "dtype": dtype,
            "sample_rate": 1.0 if name == FLOOR else sample_rate,
            "update": update and name != FLOOR,
            "columns": _columns(name, classes, 1.0 if name == FLOOR else sample_rate),
            "products": 3 if name == FLOOR else FLOOR_PRODUCTS.get(name, 3),
            "peak_bytes": runners[name][1],
            "rounds": rounds,
            "repeats": repeats,
            "min_ms": min(min(calls) for calls in times[name]),
            "median_ms": statistics.median(statistics.median(calls) for calls in times[name]),
            "round_medians_ms": [statistics.median(calls) for calls in times[name]],
        }
        for name in names
    ]


def time_head(name, classes, dim, batch, dtype="float32", jit_compile=False, warmup=3, repeats=20, seed=0):
    """`time_heads` of one head in one round (its record)."""
    return time_heads([name], classes, dim, batch, dtype, jit_compile, warmup, repeats, 1, seed)[0]


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


def _rate(record):
    return record.get("sample_rate", 1.0)


def _not_applicable(records, requested):
    """{(setting, rate): [heads]}: at each sample rate below 1, the requested heads that cannot sample.

    `requested` lists the heads asked for; by default, the heads recorded
    in the same setting at any rate (e.g. at rate 1 next to rate 0.2).
    """
    timed = {(_group(r), _rate(r), r["loss"]) for r in records}
    missing = {}
    for record in records:
        setting, rate = _group(record), _rate(record)
        if rate == 1.0 or (setting, rate) in missing:
            continue
        names = requested if requested is not None else [r["loss"] for r in records if _group(r) == setting]
        missing[(setting, rate)] = [
            name for name in dict.fromkeys(names)
            if name != FLOOR and not samples(name) and (setting, rate, name) not in timed
        ]
    return {key: names for key, names in missing.items() if names}


def markdown(records, requested=None):
    """Markdown table: each head's min and median, its ratio to normalised softmax and to its own floor.

    A head's own floor is the `matmul_floor` record of the same setting
    times its products over 3 (`FLOOR_PRODUCTS`; 3 when not listed) times
    the share of the classes it scores (`columns` / K: Partial FC's sampled
    columns). "x rate 1" is a head's min over its own min at sample rate 1
    (same setting, with or without the update). "peak GiB": XLA's peak of
    the compiled step (JAX; "-" where not measured). At a sample rate below
    1, the heads that cannot sample classes get a row of "n/a" (not
    applicable) after that setting's rows, and a key under the table says why.

    Args:
        records: `time_heads` records.
        requested: the heads asked for (their n/a rows). Defaults to None:
            the heads recorded in the same setting at any rate.

    Returns:
        The table as a string.
    """
    keyed = lambda r: _group(r) + (bool(r.get("update")),)  # noqa: E731
    baseline = {keyed(r) + (_rate(r),): r["min_ms"] for r in records if r["loss"] == "normalized_softmax"}
    floor = {_group(r): r for r in records if r["loss"] == FLOOR}
    full = {keyed(r) + (r["loss"],): r["min_ms"] for r in records if _rate(r) == 1.0}
    not_applicable = _not_applicable(records, requested)
    last = {(_group(r), _rate(r)): index for index, r in enumerate(records)}
    lines = [
        "| loss | backend | device | jit | K | d | B | dtype | rate | update | min ms | median ms | x rate 1 (min) | "
        "x normalised softmax (min) | products | x own floor (min) | x own floor (median) | peak GiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for index, r in enumerate(records):
        base, bare = baseline.get(keyed(r) + (_rate(r),)), floor.get(_group(r))
        ratio = f"{r['min_ms'] / base:.2f}" if base else "-"
        at_one = full.get(keyed(r) + (r["loss"],))
        versus_rate_one = f"{r['min_ms'] / at_one:.2f}" if at_one else "-"
        products = r.get("products", 3 if r["loss"] == FLOOR else FLOOR_PRODUCTS.get(r["loss"], 3))
        if bare:
            scale = products / 3 * r.get("columns", r["classes"]) / r["classes"]
            floor_min = f"{r['min_ms'] / (scale * bare['min_ms']):.2f}"
            floor_median = f"{r['median_ms'] / (scale * bare['median_ms']):.2f}"
        else:
            floor_min = floor_median = "-"
        peak = r.get("peak_bytes")
        setting = (f"| {r.get('backend', 'tensorflow')} | {r.get('device', '-')} | {r['jit_compile']} | {r['classes']} | "
                   f"{r['dim']} | {r['batch']} | {r['dtype']} | {_rate(r):g} |")
        lines.append(
            f"| {r['loss']} {setting} {'yes' if r.get('update') else 'no'} | {r['min_ms']:.2f} | {r['median_ms']:.2f} | "
            f"{versus_rate_one} | {ratio} | {products} | {floor_min} | {floor_median} | "
            f"{'-' if peak is None else f'{peak / 2**30:.3f}'} |"
        )
        key = (_group(r), _rate(r))
        if last[key] == index:
            for name in not_applicable.get(key, []):
                lines.append(f"| {name} {setting} n/a | n/a | n/a | n/a | n/a | {FLOOR_PRODUCTS.get(name, 3)} | n/a | n/a | n/a |")
    if not_applicable:
        lines.append("")
        lines.append(
            "n/a: not applicable; the loss does not sample classes (Partial FC's `sample_rate` is an option of "
            "the normalised margin heads), so it has no time at a sample rate below 1."
        )
    return "\n".join(lines)
