"""The measurements behind issue 24's targets, and their table (`python -m tf_wsoftmax.app.bench.targets`).

Three parts, each run in its own process (the backend is fixed when Keras is imported):

- `heads`: `bench heads` of every main head and the matmul floor (XLA), min and median of
  interleaved rounds, at each K;
- `partial_fc`: `bench heads --update` of the sampling heads (a head's part of a training step:
  objective, gradients, optimizer update) at rates 1 / 0.3 / 0.1;
- `memory` (JAX): `bench memory` of a train step at K = 10^6, the class matrices replicated
  (8 x 1) and split along K (1 x 8), at every rate (8 devices: on a CPU
  XLA_FLAGS=--xla_force_host_platform_device_count=8).

`summarize` reads the parts' JSON files and writes the table of targets: each measured ratio or
peak against its bound. `experiments/bench_heads_targets.sh` runs everything on a CPU,
`experiments/gpu_bench_heads.sh` the JAX parts on a GPU.
"""

import argparse
import json

MAIN_HEADS = ("softmax", "normalized_softmax", "wsoftmax", "wsoftmax_full", "cosface", "arcface", "lsoftmax",
              "sphereface")
SAMPLING_HEADS = ("normalized_softmax", "wsoftmax", "wsoftmax_full", "cosface", "arcface")
MEMORY_HEADS = ("normalized_softmax", "wsoftmax", "wsoftmax_full", "cosface", "arcface", "softmax")
RATES = (1.0, 0.3, 0.1)
DIM, BATCH = 512, 256
GIB = 2**30


def run_heads(classes, repeats, rounds, heads=MAIN_HEADS):
    """`bench heads` records (the floor first) at each K, compiled with XLA."""
    from tf_wsoftmax.app.bench import heads as bench

    records = []
    for k in classes:
        records += bench.time_heads(
            [bench.FLOOR] + list(heads), k, DIM, BATCH, jit_compile=True, warmup=2, repeats=repeats, rounds=rounds
        )
    return records


def run_partial_fc(classes, repeats, rounds, heads=SAMPLING_HEADS, rates=RATES):
    """`bench heads --update` records of the sampling heads at each rate (the floor once)."""
    from tf_wsoftmax.app.bench import heads as bench

    records = []
    for index, rate in enumerate(rates):
        names = ([bench.FLOOR] if index == 0 else []) + list(heads)
        records += bench.time_heads(
            names, classes, DIM, BATCH, jit_compile=True, warmup=2, repeats=repeats, rounds=rounds, sample_rate=rate,
            update=True,
        )
    return records


def run_memory(classes, heads=MEMORY_HEADS, rates=RATES, shards=None):
    """`bench memory` records (JAX) of each head, layout and rate.

    `shards` defaults to (1, n) on n > 1 devices (replicated and split along K), (1,) on one.
    """
    import jax

    from tf_wsoftmax.app.bench import memory
    from tf_wsoftmax.app.bench.heads import samples

    devices = len(jax.devices())
    shards = shards or ((1, devices) if devices > 1 else (1,))
    records = []
    for head in heads:
        for model_shards in shards:
            for rate in rates if samples(head) else (1.0,):
                records.append(memory.analyse_step(head, classes, DIM, BATCH, model_shards, sample_rate=rate))
    return records


def _by(records, **keys):
    return [r for r in records if all(r.get(k) == v for k, v in keys.items())]


def targets(heads_records=(), partial_fc_records=(), memory_records=()):
    """The targets' rows: (target, backend, setting, measured, bound, met)."""
    rows = []
    for backend in sorted({r["backend"] for r in heads_records}):
        for k in sorted({r["classes"] for r in heads_records}):
            group = {r["loss"]: r for r in _by(heads_records, backend=backend, classes=k)}
            floor = group.get("matmul_floor")
            for head in ("normalized_softmax", "cosface", "arcface"):
                if floor and head in group:
                    ratio = group[head]["min_ms"] / floor["min_ms"]
                    rows.append(("normalised head <= 1.2 x its floor (3 products)", backend, f"K={k} {head}", ratio, 1.2))
            base = group.get("normalized_softmax")
            for head, bound in (("wsoftmax", 1.35), ("wsoftmax_full", 2.0)):
                if base and head in group:
                    rows.append((f"W-Softmax {'stop' if head == 'wsoftmax' else 'full'} <= {bound} x normalised softmax",
                                 backend, f"K={k}", group[head]["min_ms"] / base["min_ms"], bound))
    for backend in sorted({r["backend"] for r in partial_fc_records}):
        for head in SAMPLING_HEADS:
            by_rate = {r["sample_rate"]: r for r in _by(partial_fc_records, backend=backend, loss=head)}
            if 1.0 not in by_rate:
                continue
            for rate, bound in ((0.1, 0.15), (0.3, 0.4)):
                if rate in by_rate:
                    rows.append((f"Partial FC head + update: rate {rate:g} <= {bound} x rate 1", backend,
                                 f"K={by_rate[1.0]['classes']} {head}", by_rate[rate]["min_ms"] / by_rate[1.0]["min_ms"],
                                 bound))
    for r in memory_records:
        three_w = 3 * r["dim"] * r["classes"] * 4
        replicated = r["model_shards"] == 1
        bound = (three_w + 0.5 * GIB) / (1 if replicated else r["devices"]) + (0 if replicated else 0.1 * GIB)
        layout = f"{r['data_shards']} x {r['model_shards']}"
        rows.append((f"memory, {'replicated' if replicated else 'class-sharded'}: peak <= "
                     f"{'3|W| + 0.5 GiB' if replicated else '(3|W| + 0.5 GiB) / 8 + 0.1 GiB'}", "jax",
                     f"K={r['classes']} {r['loss']} {layout} rate {r['sample_rate']:g}", r["peak_bytes"] / GIB, bound / GIB))
    return [row + (row[3] <= row[4],) for row in rows]


def markdown(rows):
    """The targets' table."""
    lines = ["| target | backend | setting | measured | bound | met |", "|---|---|---|---|---|---|"]
    for target, backend, setting, measured, bound, met in rows:
        lines.append(f"| {target} | {backend} | {setting} | {measured:.3f} | {bound:.3f} | {'yes' if met else 'no'} |")
    return "\n".join(lines)


def summarize(paths):
    """The targets' table from the parts' JSON files (each a {"part": ..., "records": [...]})."""
    parts = {"heads": [], "partial_fc": [], "memory": []}
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        parts[data["part"]] += data["records"]
    return markdown(targets(parts["heads"], parts["partial_fc"], parts["memory"]))


def main(argv=None):
    """Runs one part (or `summarize`) and writes its JSON (and the printed tables)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["heads", "partial_fc", "memory", "summarize"])
    parser.add_argument("--classes", type=int, nargs="+", help="heads: K values (10575 100000); partial_fc / memory: K")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per head and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--heads", nargs="+", help="a subset of the part's heads")
    parser.add_argument("--json", help="write the part's records here")
    parser.add_argument("inputs", nargs="*", help="summarize: the parts' JSON files")
    args = parser.parse_args(argv)
    if args.part == "summarize":
        print(summarize(args.inputs))
        return 0
    from tf_wsoftmax.app.bench import heads as bench
    from tf_wsoftmax.app.bench import memory

    if args.part == "heads":
        records = run_heads(args.classes or [10575, 100000], args.repeats, args.rounds, args.heads or MAIN_HEADS)
        table = bench.markdown(records)
    elif args.part == "partial_fc":
        records = run_partial_fc((args.classes or [100000])[0], args.repeats, args.rounds, args.heads or SAMPLING_HEADS)
        table = bench.markdown(records)
    else:
        records = run_memory((args.classes or [1000000])[0], args.heads or MEMORY_HEADS)
        table = memory.markdown(records)
    print(table)
    part_rows = targets(**{{"heads": "heads_records", "partial_fc": "partial_fc_records",
                             "memory": "memory_records"}[args.part]: records})
    print()
    print(markdown(part_rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"part": args.part, "records": records}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
