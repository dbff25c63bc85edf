"""Microbenchmark: Partial FC's ideal sampled step with a class-major (K, d) kernel (issue 24 item 3).

The step of a normalised-softmax head on its own weights: gather the W sampled
rows of the kernel (and of its momentum), the objective (s x_n . w_n^T, the
cross-entropy over the W classes) and its gradients with respect to the rows
and the features (3 products), momentum SGD on those rows, scattered back.
Against the rate-1 dense step of the same objective on the whole kernel,
stored (d, K) as Keras' Dense (what the heads do today) and (K, d).

Run (the benchmark lock pauses the background study):
    python experiments/bench_row_layout.py jax
    python experiments/bench_row_layout.py tensorflow

Prints min / median ms over interleaved rounds and each variant's ratio to the
rate-1 (d, K) step (min / median).

Result (2-core Xeon of this project, 2026-12-06 14:22, `--rounds 4 --repeats 3`,
K = 10^5, d = 512, B = 256, float32; min / median ms):

    variant                                      TensorFlow (XLA)   JAX
    rate 1, (d, K) dense                         495 / 529          981 / 1021
    rate 1, (K, d) dense                         451 / 459          524 / 537
    rate 0.3, (K, d) rows, scatter in XLA        167 / 170          200 / 215
    rate 0.1, (K, d) rows, scatter in XLA         50 / 53            66 / 73

TensorFlow's other scatters of the rows at rate 0.3 / 0.1 (min): `tensor_scatter_nd_update`
in XLA 162 / 50 ms, `scatter_update` without XLA 175 / 52 ms, the scatter outside an XLA
compute function 151 / 44 ms. So the ideal sampled step costs 0.07 to 0.13x (rate 0.1) and
0.20 to 0.38x (rate 0.3) of a rate-1 step on both backends: the go for the class-major
kernel (docs/benchmarks.md, "Partial FC").
"""

import argparse
import statistics
import time

import numpy as np

K, D, B, SCALE, LR, MU = 100_000, 512, 256, 30.0, 0.01, 0.9


def draw(rate, seed=0):
    """Sorted distinct class ids (the batch's labels among them) and the labels' positions in them."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, K, B)
    width = round(rate * K)
    others = np.setdiff1d(np.arange(K), labels)
    ids = np.union1d(labels, rng.choice(others, width - len(np.unique(labels)), replace=False)).astype(np.int32)
    return ids, np.searchsorted(ids, labels).astype(np.int32), labels.astype(np.int32)


def jax_variants(rates):
    import jax
    import jax.numpy as jnp

    def objective(x, w):  # w: (n, d) class vectors as rows
        xn = x / jnp.linalg.norm(x, axis=1, keepdims=True)
        wn = w / jnp.linalg.norm(w, axis=1, keepdims=True)
        return xn, wn

    def loss_rows(x, rows, labels):
        xn, wn = objective(x, rows)
        logits = SCALE * xn @ wn.T
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, labels[:, None], 1)[:, 0])

    def loss_columns(x, kernel, labels):  # kernel (d, K)
        xn = x / jnp.linalg.norm(x, axis=1, keepdims=True)
        wn = kernel / jnp.linalg.norm(kernel, axis=0, keepdims=True)
        logits = SCALE * xn @ wn
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(logits, labels[:, None], 1)[:, 0])

    def dense(loss):
        def step(kernel, momentum, x, labels):
            value, (gx, gw) = jax.value_and_grad(loss, argnums=(0, 1))(x, kernel, labels)
            momentum = MU * momentum - LR * gw
            return kernel + momentum, momentum, value, gx
        return jax.jit(step, donate_argnums=(0, 1))

    def rows_step(kernel, momentum, x, ids, local):
        kw = {"mode": "promise_in_bounds", "unique_indices": True, "indices_are_sorted": True}
        rows = kernel.at[ids].get(**kw)
        value, (gx, gw) = jax.value_and_grad(loss_rows, argnums=(0, 1))(x, rows, local)
        new = MU * momentum.at[ids].get(**kw) - LR * gw
        return kernel.at[ids].set(rows + new, **kw), momentum.at[ids].set(new, **kw), value, gx

    rows_jit = jax.jit(rows_step, donate_argnums=(0, 1))
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal((B, D), dtype=np.float32))
    state = {}

    def make(name, layout, fn, args):
        shape = (D, K) if layout == "dk" else (K, D)
        state[name] = [jnp.asarray(rng.standard_normal(shape, dtype=np.float32)), jnp.zeros(shape, jnp.float32)]

        def call():
            kernel, momentum, value, _ = fn(*state[name], x, *args)
            state[name] = [kernel, momentum]
            value.block_until_ready()
            kernel.block_until_ready()
        return call

    _, _, labels = draw(1.0)
    variants = {
        "rate 1, (d, K) dense": make("dk", "dk", dense(loss_columns), (jnp.asarray(labels),)),
        "rate 1, (K, d) dense": make("kd", "kd", dense(loss_rows), (jnp.asarray(labels),)),
    }
    for rate in rates:
        ids, local, _ = draw(rate)
        variants[f"rate {rate:g}, (K, d) rows, donated scatter"] = make(
            f"r{rate}", "kd", rows_jit, (jnp.asarray(ids), jnp.asarray(local)))
    return variants


def tf_variants(rates):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = tf.constant(rng.standard_normal((B, D), dtype=np.float32))

    def loss_of(x, w, labels, axis):
        xn = tf.math.l2_normalize(x, axis=1)
        wn = tf.math.l2_normalize(w, axis=axis)
        logits = SCALE * tf.matmul(xn, wn, transpose_b=(axis == 1))
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

    def variables(shape):
        return tf.Variable(rng.standard_normal(shape, dtype=np.float32)), tf.Variable(tf.zeros(shape))

    variants = {}
    _, _, labels = draw(1.0)
    labels = tf.constant(labels)
    for layout, axis in (("dk", 0), ("kd", 1)):
        kernel, momentum = variables((D, K) if layout == "dk" else (K, D))

        @tf.function(jit_compile=True)
        def dense_step(kernel=kernel, momentum=momentum, axis=axis):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = loss_of(x, kernel, labels, axis)
            gx, gw = tape.gradient(value, [x, kernel])
            new = MU * momentum - LR * gw
            momentum.assign(new)
            kernel.assign_add(new)
            return value, gx

        variants[f"rate 1, ({'d, K' if layout == 'dk' else 'K, d'}) dense"] = dense_step

    def updated_rows(kernel, momentum, ids, local):
        """The sampled rows' new values and momentum, the loss and the features' gradient."""
        with tf.GradientTape() as tape:
            rows = tf.gather(kernel, ids)
            tape.watch([x, rows])
            value = loss_of(x, rows, local, 1)
        gx, gw = tape.gradient(value, [x, rows])
        new = MU * tf.gather(momentum, ids) - LR * gw
        return rows + new, new, value, gx

    def sampled(kernel, momentum, ids, local, scatter):
        rows, new, value, gx = updated_rows(kernel, momentum, ids, local)
        scatter(momentum, ids, new)
        scatter(kernel, ids, rows)
        return value, gx

    def scatter_update(variable, ids, values):
        variable.scatter_update(tf.IndexedSlices(values, ids))

    def tensor_scatter(variable, ids, values):
        variable.assign(tf.tensor_scatter_nd_update(variable, ids[:, None], values))

    for rate in rates:
        ids, local, _ = draw(rate)
        ids, local = tf.constant(ids), tf.constant(local)
        for name, scatter, jit in (
            ("XLA, scatter_update", scatter_update, True),
            ("XLA, tensor_scatter_nd_update", tensor_scatter, True),
            ("no XLA, scatter_update", scatter_update, False),
        ):
            kernel, momentum = variables((K, D))
            fn = tf.function(
                lambda kernel=kernel, momentum=momentum, ids=ids, local=local, scatter=scatter:
                sampled(kernel, momentum, ids, local, scatter), jit_compile=jit)
            variants[f"rate {rate:g}, (K, d) rows, {name}"] = fn

        # XLA for the gather, objective and gradients; the scatter outside XLA (TensorFlow's kernels).
        kernel, momentum = variables((K, D))

        @tf.function(jit_compile=True)
        def compute(kernel=kernel, momentum=momentum, ids=ids, local=local):
            return updated_rows(kernel, momentum, ids, local)

        @tf.function
        def hybrid(kernel=kernel, momentum=momentum, ids=ids, compute=compute):
            rows, new, value, gx = compute()
            momentum.scatter_update(tf.IndexedSlices(new, ids))
            kernel.scatter_update(tf.IndexedSlices(rows, ids))
            return value, gx

        variants[f"rate {rate:g}, (K, d) rows, XLA compute + scatter_update outside"] = hybrid

    def call_of(fn):
        def call():
            value, _ = fn()
            value.numpy()
        return call

    return {name: call_of(fn) for name, fn in variants.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", choices=["jax", "tensorflow"])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.3, 0.1])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    variants = (jax_variants if args.backend == "jax" else tf_variants)(args.rates)
    for call in variants.values():  # compile and warm up
        call()
        call()
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, call in variants.items():
            for _ in range(args.repeats):
                start = time.perf_counter()
                call()
                times[name].append(1000 * (time.perf_counter() - start))
    base = times["rate 1, (d, K) dense"]
    print(f"{args.backend}: K={K} d={D} B={B} float32, {args.rounds} rounds x {args.repeats}")
    print("| variant | min ms | median ms | x rate 1 (d, K) (min / median) |")
    print("|---|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {min(values):.1f} | {statistics.median(values):.1f} | "
              f"{min(values) / min(base):.3f} / {statistics.median(values) / statistics.median(base):.3f} |")


if __name__ == "__main__":
    main()
