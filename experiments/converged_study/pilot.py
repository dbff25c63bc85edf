"""Pilots of the converged study (not study runs): grows one softmax run per backbone until it fits.

Command (repository root; the subset from subset.py must exist):
    PYTHONPATH=. /work/main/.venv/bin/python experiments/converged_study/pilot.py tiny \
        --backend jax --epochs 8 15 20 25 30 40 50 60 80 100 [--minutes 20]

For each length in --epochs (ascending) it re-runs `nice -n 19 tf-wsoftmax train --loss softmax
--seed 0` in /work/study_runs/pilots/backend_<backend>/<backbone>_softmax (the runner extends the run: a
softmax run grown to E epochs is the run of E epochs), copies metrics.json and timing.json to
experiments/converged_study/pilots/<backend>/<backbone>/e<E>/ and history.jsonl / config.json of the
longest one, and stops at the first length whose evaluated training accuracy (metrics.json
`train_accuracy`, inference mode, all 6,000 images) is >= 99.5 %, or when the next length would take
a run past --minutes of wall time (estimated from the seconds per epoch measured so far). It waits
while /work/notes/benchmark.lock exists. Prints one line per length: epochs, train / test accuracy,
the call's train seconds and the run's estimated wall minutes.
Expected: the lengths in PREREGISTRATION.md, "Length per backbone".
"""

import argparse
import json
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import plan  # noqa: E402

TARGET = 0.995


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backbone")
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--epochs", type=int, nargs="+", required=True)
    parser.add_argument("--minutes", type=float, default=None, help="wall-time cap of one run")
    args = parser.parse_args(argv)
    run_dir = pathlib.Path("/work/study_runs/pilots") / f"backend_{args.backend}" / f"{args.backbone}_softmax"
    records = HERE / "pilots" / args.backend / args.backbone
    for epochs in sorted(args.epochs):
        while pathlib.Path("/work/notes/benchmark.lock").exists():
            time.sleep(10)
        command = ["nice", "-n", "19", sys.executable, "-m", "tf_wsoftmax_cli", "train", "--dataset", "fashion_mnist",
                   "--data-dir", plan.DATA_DIR, "--no-download", "--backbone", args.backbone, "--loss", "softmax",
                   "--epochs", str(epochs), "--seed", "0", "--backend", args.backend, "--quiet", "--out", str(run_dir)]
        subprocess.run(command, cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin",
                                               "TF_CPP_MIN_LOG_LEVEL": "2"}, check=True, capture_output=True)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        timing = json.loads((run_dir / "timing.json").read_text())
        out = records / f"e{epochs}"
        out.mkdir(parents=True, exist_ok=True)
        for name in ("metrics.json", "timing.json"):
            shutil.copyfile(run_dir / name, out / name)
        for name in ("history.jsonl", "config.json"):
            shutil.copyfile(run_dir / name, records / name)
        # Seconds per epoch: the training seconds of every call after the first (compilation included in each).
        calls = timing["calls"]
        per_epoch = sum(c["seconds"] for c in calls) / (calls[-1]["to_step"] / plan.STEPS_PER_EPOCH)
        run_minutes = (per_epoch * epochs + timing.get("other_seconds", 0)) / 60
        print(f"{args.backbone} {args.backend} e{epochs}: train {100 * metrics['train_accuracy']:.2f} % "
              f"test {100 * metrics['test_accuracy']:.2f} %; call {calls[-1]['seconds']:.0f} s for "
              f"{(calls[-1]['to_step'] - calls[-1]['from_step']) // plan.STEPS_PER_EPOCH} epochs; "
              f"{per_epoch:.1f} s/epoch over all calls; est. run {run_minutes:.1f} min", flush=True)
        if metrics["train_accuracy"] >= TARGET:
            print(f"{args.backbone}: >= {100 * TARGET} % training accuracy at {epochs} epochs", flush=True)
            return 0
        later = [e for e in args.epochs if e > epochs]
        if args.minutes and later and (per_epoch * later[0] + timing.get("other_seconds", 0)) / 60 > args.minutes:
            print(f"{args.backbone}: {later[0]} epochs would exceed {args.minutes} min; longest tried {epochs}",
                  flush=True)
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
