"""The heads against pytorch-metric-learning (PML) on the same CPU, in one run (issue 24's optional target).

Issue 24's target: each head at <= 0.6x the time of PML's head of the same loss. Timed step: a
head's forward + backward, features (B, d) and labels in; the loss and its gradients with respect
to the features and the (d, K) class matrix out. d = 512, B = 256, float32, K = 10575 and 10^5.

torch and PML are not dependencies of tf_wsoftmax (not in requirements.txt or setup.py; no test
needs them). Run it from a separate environment that has both and the project's requirements:

    python3 -m venv /work/pml_venv
    /work/pml_venv/bin/pip install torch pytorch-metric-learning -r requirements.txt
    for backend in tensorflow jax; do
      /work/pml_venv/bin/python experiments/bench_peer_pml.py --backend $backend --json runs/peer_pml_$backend.json
    done
    /work/pml_venv/bin/python experiments/bench_peer_pml.py --tables runs/peer_pml_*.json

Each backend is one process (Keras fixes its backend at import). In it, at each K, PML's heads and
ours are timed in interleaved rounds: every round times `--repeats` calls of each of the 10 steps
in turn, so a slow spell of a shared machine hits both libraries alike; each step reports the min
over all calls and the median of the rounds' medians. PML is timed again in each backend's
process, and the ratio ours / PML is taken within a process (the backends' rounds are not
interleaved with each other). torch runs on as many threads as TensorFlow's and XLA's CPU pools
(the CPUs this process may use: 2 here), with OMP_WAIT_POLICY=PASSIVE (see `main`).

Ours is the library's training objective through the registry head (`bench heads`' step:
`heads.make_step`, XLA on TensorFlow, `jax.jit` on JAX). PML's is its loss module's forward and
`torch.autograd.grad` (eager, as PML runs). The hyperparameters are matched so that both compute
the same loss (the first call's losses are compared and recorded):

| ours | PML | matched |
|---|---|---|
| normalized_softmax | NormalizedSoftmaxLoss | ||x|| cos t_j: PML with temperature 1 and DotProductSimilarity(normalize_embeddings=False) (its default normalises x and divides by 0.05) |
| cosface | CosFaceLoss | s = 64, m = 0.35 (both defaults) |
| arcface | ArcFaceLoss | s = 64, m = 0.5 rad (PML's margin in degrees: 28.648; its default 28.6) |
| lsoftmax | LargeMarginSoftmaxLoss | m = 4, scale 1; ours with lambda 0 (lambda_base = lambda_min = 0; PML has no annealing) |
| sphereface | SphereFaceLoss | m = 4, scale 1, lambda 0 as above |

PML has no W-Softmax, plain softmax head, centre or contrastive-centre loss, so those are not
timed. The heads above have no bias and no centres: ours get 1-element stand-ins for those inputs
of `bench heads`' step, so their zero gradients cost nothing.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

NO_LAMBDA = {"lambda_base": 0.0, "lambda_min": 0.0}
# ours -> (registry hyperparameters over the defaults, PML class, PML keyword arguments (a function
# of the pml module, so PML is imported only in the timing process))
PAIRS = {
    "normalized_softmax": ({}, "NormalizedSoftmaxLoss", lambda pml: {
        "temperature": 1.0, "distance": pml.distances.DotProductSimilarity(normalize_embeddings=False)}),
    "cosface": ({}, "CosFaceLoss", lambda pml: {"margin": 0.35, "scale": 64}),
    "arcface": ({}, "ArcFaceLoss", lambda pml: {"margin": math.degrees(0.5), "scale": 64}),
    "lsoftmax": (NO_LAMBDA, "LargeMarginSoftmaxLoss", lambda pml: {"margin": 4, "scale": 1}),
    "sphereface": (NO_LAMBDA, "SphereFaceLoss", lambda pml: {"margin": 4, "scale": 1}),
}


def _ours(name, params, tensors):
    """A callable timing one step of our head `name` (its loss as a float)."""
    import keras

    from tf_wsoftmax.app.bench import heads
    from tf_wsoftmax.losses import build_loss

    features, kernel, _, _, labels = tensors
    head, feature_loss = build_loss(name, kernel.shape[1], **params)
    head.build((None, features.shape[1]))
    assert feature_loss is None and getattr(head, "bias", None) is None, name
    step = heads.make_step((head, None), jit_compile=True)
    stand_ins = (keras.ops.zeros((1,)), keras.ops.zeros((1, features.shape[1])))
    arguments = (features, kernel) + stand_ins + (labels,)
    return lambda: heads._block(step(*arguments))


def _pml(name, tensors):
    """A callable timing one step of PML's loss paired with `name` (its loss as a float)."""
    import numpy as np
    import pytorch_metric_learning as pml
    import pytorch_metric_learning.distances  # noqa: F401
    import pytorch_metric_learning.losses  # noqa: F401
    import torch

    _, class_name, keywords = PAIRS[name]
    features, kernel, _, _, labels = (np.array(t) for t in tensors)  # writable copies
    loss = getattr(pml.losses, class_name)(num_classes=kernel.shape[1], embedding_size=kernel.shape[0],
                                           **keywords(pml))
    with torch.no_grad():
        loss.W.copy_(torch.from_numpy(kernel))  # PML's class matrix is (d, K), as ours
    x = torch.from_numpy(features).requires_grad_(True)
    y = torch.from_numpy(labels.astype(np.int64))

    def run():
        value = loss(x, y)
        torch.autograd.grad(value, [x, loss.W])
        return float(value.detach())

    return run


def time_pairs(classes, dim, batch, warmup, repeats, rounds, seed=0):
    """Records of PML's heads and ours at one K, timed in interleaved rounds."""
    import keras

    from tf_wsoftmax.app.bench import heads

    tensors = heads._inputs(classes, dim, batch, "float32", seed)
    runs = {}
    for name, (params, _, _) in PAIRS.items():
        runs[("pml", name)] = _pml(name, tensors)
        runs[("ours", name)] = _ours(name, params, tensors)
    losses = {key: run() for key, run in runs.items()}
    for run in runs.values():
        for _ in range(warmup):
            run()
    times = {key: [] for key in runs}
    for _ in range(rounds):
        for key, run in runs.items():
            calls = []
            for _ in range(repeats):
                started = time.perf_counter()
                run()
                calls.append(1000.0 * (time.perf_counter() - started))
            times[key].append(calls)
    return [
        {
            "library": library, "head": name, "backend": keras.backend.backend(), "classes": classes, "dim": dim,
            "batch": batch, "first_loss": losses[(library, name)], "rounds": rounds, "repeats": repeats,
            "min_ms": min(min(calls) for calls in times[(library, name)]),
            "median_ms": statistics.median(statistics.median(calls) for calls in times[(library, name)]),
            "round_medians_ms": [statistics.median(calls) for calls in times[(library, name)]],
            "calls_ms": times[(library, name)],
        }
        for library, name in runs
    ]


def environment():
    """Hardware, threads, load and versions of this process."""
    import keras
    import numpy as np
    import pytorch_metric_learning
    import torch

    model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
                 platform.processor())
    versions = {"python": platform.python_version(), "numpy": np.__version__, "keras": keras.__version__,
                "torch": torch.__version__, "pytorch_metric_learning": pytorch_metric_learning.__version__}
    if keras.backend.backend() == "jax":
        import jax

        versions["jax"] = jax.__version__
    else:
        import tensorflow as tf

        versions["tensorflow"] = tf.__version__
    return {"cpu": model, "cpus": len(os.sched_getaffinity(0)), "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "load_average_at_end": os.getloadavg(),
            "versions": versions}


def markdown(records):
    """The table: per backend, K and head, PML's and our min / median ms and ours / PML."""
    lines = ["| backend | K | head | PML ms (min / median) | ours ms (min / median) | ours / PML (min / median) "
             "| loss PML / ours |", "|---|---|---|---|---|---|---|"]
    by = {(r["backend"], r["classes"], r["head"], r["library"]): r for r in records}
    for backend, classes, name, library in by:
        if library != "pml":
            continue
        theirs, ours = by[(backend, classes, name, "pml")], by[(backend, classes, name, "ours")]
        lines.append(
            f"| {backend} | {classes} | {name} | {theirs['min_ms']:.1f} / {theirs['median_ms']:.1f} "
            f"| {ours['min_ms']:.1f} / {ours['median_ms']:.1f} | {ours['min_ms'] / theirs['min_ms']:.2f} / "
            f"{ours['median_ms'] / theirs['median_ms']:.2f} | {theirs['first_loss']:.4f} / {ours['first_loss']:.4f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="tensorflow", choices=["tensorflow", "jax"])
    parser.add_argument("--classes", type=int, nargs="+", default=[10575, 100000])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per step after the first")
    parser.add_argument("--repeats", type=int, default=4, help="timed calls per step and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--json", help="write the command, environment and records here")
    parser.add_argument("--tables", nargs="+", metavar="JSON", help="only print the table of these runs' JSON files")
    args = parser.parse_args(argv)
    if args.tables:
        records = []
        for path in args.tables:
            with open(path) as f:
                records += json.load(f)["records"]
        print(markdown(records))
        return 0
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    load = os.getloadavg()
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # libgomp's threads sleep at a barrier instead of spinning: on a loaded CPU spinning doubled
    # PML's time (CosFace, K = 10575: 200-415 ms against 151-194 ms), so this favours PML.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # TensorFlow's and XLA's CPU pools use every CPU
    records = []
    for classes in args.classes:  # the JSON is rewritten after each K, so a stopped run keeps what it timed
        records += time_pairs(classes, args.dim, args.batch, args.warmup, args.repeats, args.rounds)
        print(f"K = {classes} done, load {os.getloadavg()}", file=sys.stderr, flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"command": " ".join([sys.executable] + sys.argv), "started": started,
                           "load_average_at_start": load,
                           "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                           "environment": environment(), "records": records}, f, indent=1)
    print(markdown(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
