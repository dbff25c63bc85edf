"""`bench heads`, `bench step`, `bench memory` and `bench input`: each with its own flags."""

from tf_wsoftmax.app.bench.names import FLOOR
from tf_wsoftmax.app.bench.names import HEADS
from tf_wsoftmax.app.commands.experiments import BACKENDS
from tf_wsoftmax.app.commands.spec import Command
from tf_wsoftmax.app.commands.spec import UsageError
from tf_wsoftmax.app.commands.spec import arg
from tf_wsoftmax.app.commands.spec import keras_backend
from tf_wsoftmax.app.commands.spec import positive_int
from tf_wsoftmax.app.commands.spec import real_number
from tf_wsoftmax.declarations import LOSS_DECLARATIONS
from tf_wsoftmax.models.specs import FACE_BACKBONES

GROUP = ("bench", "benchmarks: `bench heads`, `bench step`, `bench memory`, `bench input`")
STEP_LOSSES = ["softmax", "wsoftmax", "lsoftmax", "cosface", "arcface", "center"]
DEFAULT_CLASSES, DEFAULT_DIM = [10575], [512]


def _shape_arguments():
    return (
        arg("--classes", type=positive_int, nargs="+", help=f"K values (default: {DEFAULT_CLASSES[0]}, CASIA-WebFace)"),
        arg("--dim", type=positive_int, nargs="+", help=f"d values, the feature width (default: {DEFAULT_DIM[0]})"),
        arg("--batch", type=positive_int, default=256, help="B, the batch size"),
        arg("--dtype", nargs="+", default=["float32"], choices=["float32", "bfloat16", "float16"],
            help="dtypes of the features and the class matrices"),
    )


SAMPLE_RATES = arg(
    "--sample-rate", type=real_number(0.0, 1.0, low_open=True), nargs="+", default=[1.0],
    help="Partial FC sample rates in (0, 1] (the heads that sample: normalized_softmax, wsoftmax, cosface, arcface)",
)
JIT = arg("--jit", choices=["both", "on", "off"], default="both", help="TensorFlow: time without and/or with XLA")
REPEATS = arg("--repeats", type=positive_int, default=20, help="timed calls per head (per round)")
JSON = arg("--json", help="also write the records to this JSON file (default: none)")


def _records_out(records, table, path):
    import json

    print(table)
    if path:
        with open(path, "w") as f:
            json.dump(records, f, indent=2)
    return 0


def _jits(args):
    return {"both": [False, True], "on": [True], "off": [False]}[args.jit]


def _check_heads(args):
    if args.sweep and (args.classes or args.dim):
        raise UsageError("--sweep chooses K and d itself: drop --classes / --dim, or drop --sweep")


def _run_heads(config, args):
    import keras

    from tf_wsoftmax.app.bench import heads

    jits = _jits(args) if keras.backend.backend() == "tensorflow" else [True]  # JAX always compiles with XLA
    if args.sweep:
        shapes = heads.sweep_shapes([10, 100, 1000, 10575, 100000], [128, 512])
    else:
        shapes = [(k, d) for k in args.classes or DEFAULT_CLASSES for d in args.dim or DEFAULT_DIM]
    names = [FLOOR] + [n for n in (args.losses or HEADS) if n != FLOOR]
    records = []
    for classes, dim in shapes:
        for dtype in args.dtype:
            for jit in jits:
                for index, rate in enumerate(args.sample_rate):
                    timed = heads.time_heads(
                        names if index == 0 else names[1:], classes, dim, args.batch, dtype, jit,
                        repeats=args.repeats, rounds=args.rounds, sample_rate=rate, update=args.update,
                    )  # the floor (the full product) once per setting
                    records.extend(timed)
                    for r in timed:
                        print(
                            f"{r['loss']} {r['backend']} ({r['device']}) K={classes} d={dim} {dtype} "
                            f"jit={r['jit_compile']} rate={r['sample_rate']:g}: min {r['min_ms']:.2f} ms, "
                            f"median {r['median_ms']:.2f} ms",
                            flush=True,
                        )
    return _records_out(records, heads.markdown(records, names), args.json)


HEADS_COMMAND = Command(
    name="bench heads",
    help="forward + backward time of every head against the bare matmul floor",
    arguments=_shape_arguments() + (
        arg("--sweep", action="store_true",
            help="K in {10..100000} x d in {K-1, 128, 512} instead of --classes / --dim"),
        JIT,
        arg("--backend", choices=BACKENDS,
            help="the Keras backend to time on (default: KERAS_BACKEND); jax times jax.jit(value_and_grad)"),
        arg("--losses", nargs="+", choices=(FLOOR,) + HEADS, metavar="HEAD",
            help=f"the heads to time (default: all: {', '.join(HEADS)}; {FLOOR} is always timed)"),
        arg("--update", action="store_true",
            help="time a head's part of a training step (objective, gradients and the optimizer's update of the class "
            "matrices; LazyColumnSGD for sampling heads) instead of the objective's forward and backward pass"),
        REPEATS,
        arg("--rounds", type=positive_int, default=3,
            help="interleaved rounds (every head once per round); min over all calls, median of the rounds' medians"),
        SAMPLE_RATES,
        JSON,
    ),
    checks=(_check_heads,),
    run=_run_heads,
)


def _needs_backend(name, wanted, hint):
    def check(args):
        if keras_backend(args) != wanted:
            raise UsageError(f"`bench {name}` runs on Keras' {wanted} backend, not {keras_backend(args)!r}: {hint}")

    return check


def _run_step(config, args):
    from tf_wsoftmax.app.bench import step

    records = []
    for network in args.networks:
        for jit in _jits(args):
            for loss in args.losses:
                records.append(step.time_step(network, loss, args.batch, jit, repeats=args.repeats))
                print(f"{network} {loss} jit={jit}: {records[-1]['images_per_s']:.1f} images/s", flush=True)
    return _records_out(records, step.markdown(records), args.json)


STEP_COMMAND = Command(
    name="bench step",
    help="images/s of whole TensorFlow train steps (TrainStep) per network and loss",
    arguments=(
        arg("--networks", nargs="+", default=["mnist", "cifar10"], choices=["mnist", "cifar10", "face"],
            help="the networks (face: MobileNetV3-Small at 112 x 112)"),
        arg("--batch", type=positive_int, default=256, help="the batch size"),
        JIT,
        arg("--losses", nargs="+", default=STEP_LOSSES, choices=list(LOSS_DECLARATIONS), metavar="LOSS",
            help=f"registry losses, one of: {', '.join(LOSS_DECLARATIONS)}"),
        REPEATS,
        JSON,
    ),
    checks=(_needs_backend("step", "tensorflow", "set KERAS_BACKEND=tensorflow (only `bench heads` runs on JAX)"),),
    run=_run_step,
)


def _run_memory(config, args):
    from tf_wsoftmax.app.bench import memory

    records = []
    for classes in args.classes or DEFAULT_CLASSES:
        for dim in args.dim or DEFAULT_DIM:
            for dtype in args.dtype:
                for name in args.losses:
                    for shards in args.model_shards:
                        for rate in args.sample_rate:
                            records.append(memory.analyse_step(
                                name, classes, dim, args.batch, shards, dtype, execute=args.execute, sample_rate=rate
                            ))
                            print(f"{name} K={classes} d={dim} {dtype} model shards={shards} rate={rate:g}: "
                                  f"peak {records[-1]['peak_bytes'] / 2**30:.3f} GiB per device", flush=True)
    return _records_out(records, memory.markdown(records), args.json)


MEMORY_COMMAND = Command(
    name="bench memory",
    help="per-device memory of a class-sharded head's train step (XLA's analysis, JAX)",
    arguments=_shape_arguments() + (
        arg("--backend", choices=BACKENDS, help="must be jax (default: KERAS_BACKEND)"),
        arg("--losses", nargs="+", default=["wsoftmax"], help="heads: wsoftmax, wsoftmax_full, cosface, arcface, ..."),
        arg("--model-shards", type=positive_int, nargs="+", default=[1, 2, 4, 8],
            help="devices K is split over (the others split the batch)"),
        arg("--execute", action="store_true", help="also run each step on real arrays and time it"),
        SAMPLE_RATES,
        JSON,
    ),
    checks=(_needs_backend("memory", "jax", "add --backend jax"),),
    run=_run_memory,
)


def _run_input(config, args):
    from tf_wsoftmax.app.bench import input as input_bench

    record = input_bench.bench_input(args.data, args.batch, args.image_size, args.backbone, args.max_images)
    return _records_out(record, input_bench.markdown(record), args.json)


INPUT_COMMAND = Command(
    name="bench input",
    help="decoded images/s of a .rec pack and of the training input, next to the train step's",
    arguments=(
        arg("--data", required=True, exists="file", help="the .rec pack (its .idx beside it)"),
        arg("--batch", type=positive_int, default=256, help="the batch size"),
        arg("--image-size", type=positive_int, default=112, help="the model's input side"),
        arg("--backbone", default="mobilenet_v3_small", choices=list(FACE_BACKBONES),
            help="the face backbone of the train step"),
        arg("--max-images", type=positive_int, default=2000, help="images read per measurement"),
        JSON,
    ),
    checks=(_needs_backend("input", "tensorflow", "set KERAS_BACKEND=tensorflow (it times tf.data)"),),
    run=_run_input,
)

COMMANDS = (HEADS_COMMAND, STEP_COMMAND, MEMORY_COMMAND, INPUT_COMMAND)
