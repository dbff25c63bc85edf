"""Benchmark: Partial FC's draw, the library's O(K) selection against a top-k of the same scores.

`tf_wsoftmax.ops.sample_classes` keeps the batch's classes and the classes of
the largest uniform scores, found by a dozen passes of comparisons over the K
scores (`sampling._largest_keys`). The reference is the draw as it was before:
`keras.ops.top_k` of the same scores (O(K log W)), with the same scatter of
the labels' positions. Both are compiled (XLA) and timed in interleaved rounds;
the table gives min / median ms and the ratio of the minima.

Run (the benchmark lock pauses the background study):
    KERAS_BACKEND=jax python experiments/bench_draw.py --json draw_jax.json
    KERAS_BACKEND=tensorflow python experiments/bench_draw.py --json draw_tensorflow.json
"""

import argparse
import json
import platform
import statistics
import time

import keras
import numpy as np

from tf_wsoftmax import ops
from tf_wsoftmax.ops import _backend

SEED, BATCH = 7, 256


def top_k_draw(labels, num_classes, num_sampled, seed, step):
    """The reference: the classes of the `num_sampled` largest scores by `keras.ops.top_k` (batch size <= num_sampled)."""
    counts = keras.ops.scatter(labels[:, None], keras.ops.ones_like(labels), (num_classes,))
    scores = keras.ops.where(counts > 0, 2.0, _backend.uniform_at((num_classes,), seed, step))
    classes = keras.ops.cast(keras.ops.top_k(scores, num_sampled, sorted=True)[1], "int32")
    positions = keras.ops.scatter(classes[:, None], keras.ops.arange(num_sampled, dtype="int32"), (num_classes,))
    return classes, keras.ops.take(positions, labels)


def compiled(function):
    """`function(step)` compiled with XLA on the current backend."""
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(function)
    import tensorflow as tf

    return tf.function(function, jit_compile=True)


def time_draws(draws, rounds, repeats):
    """{name: [ms, ...]} of each compiled draw, called `repeats` times per round, rounds interleaved."""
    times = {name: [] for name in draws}
    step = 1
    for _ in range(rounds):
        for name, draw in draws.items():
            for _ in range(repeats):
                started = time.perf_counter()
                np.asarray(draw(keras.ops.convert_to_tensor(step, "int32"))[0])
                times[name].append(1000.0 * (time.perf_counter() - started))
                step += 1
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[10**5, 10**6, 10**7])
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.3])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="write the records here")
    args = parser.parse_args(argv)
    labels = keras.ops.convert_to_tensor(np.random.default_rng(0).integers(0, min(args.classes), BATCH).astype("int32"))
    records = []
    print("| backend | K | rate | library: min / median ms | top-k: min / median ms | library / top-k (min) |")
    print("|---|---|---|---|---|---|")
    for classes in args.classes:
        for rate in args.rates:
            num_sampled = ops.num_sampled_classes(rate, classes)
            draws = {
                "library": compiled(lambda s: ops.sample_classes(labels, classes, num_sampled, SEED, s)[:2]),
                "top_k": compiled(lambda s: top_k_draw(labels, classes, num_sampled, SEED, s)),
            }
            first = {name: np.asarray(draw(keras.ops.convert_to_tensor(0, "int32"))[0]) for name, draw in draws.items()}
            same_set = bool(np.array_equal(np.sort(first["library"]), np.sort(first["top_k"])))
            times = time_draws(draws, args.rounds, args.repeats)
            record = {
                "backend": keras.backend.backend(), "classes": classes, "sample_rate": rate, "drawn": num_sampled,
                "same_set": same_set, "cpu": platform.processor() or platform.machine(),
            }
            for name, values in times.items():
                record[f"{name}_min_ms"], record[f"{name}_median_ms"] = min(values), statistics.median(values)
            records.append(record)
            print(f"| {record['backend']} | {classes} | {rate:g} | {record['library_min_ms']:.1f} / "
                  f"{record['library_median_ms']:.1f} | {record['top_k_min_ms']:.1f} / {record['top_k_median_ms']:.1f} | "
                  f"{record['library_min_ms'] / record['top_k_min_ms']:.2f} |" + ("" if same_set else " (sets differ!)"),
                  flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"records": records}, f, indent=2)
    return 0 if all(r["same_set"] for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
