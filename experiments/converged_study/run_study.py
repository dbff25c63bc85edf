"""Runs (or resumes) the pre-registered converged Fashion-MNIST study and commits each run's record.

Command (repository root of the `study` worktree; runs for hours, re-run it after any kill):
    nohup /work/main/.venv/bin/python experiments/converged_study/run_study.py \
        >> /work/study_runs/study.log 2>&1 &

What it does, in the order of `plan.runs()` (PREREGISTRATION.md, "Order of runs"):
1. refuses to start unless PREREGISTRATION.md is committed and the protocol files (plan.py,
   subset.py, run_study.py, PREREGISTRATION.md) have no uncommitted change;
2. writes the 6,000-image subset to /work/study_runs/fashion_mnist_6k and checks its SHA-256
   against `plan.DATA_HASHES`;
3. for each run whose record is not committed yet: waits while /work/notes/benchmark.lock exists,
   runs `nice -n 19 tf-wsoftmax train ...` in /work/study_runs/runs/<backbone>/<row>/seed<k>
   (resumes a killed run exactly; a finished one returns at once), checking the lock every 10 s
   and pausing the run's process group (SIGSTOP, then SIGCONT when the file is gone) while it exists;
4. checks the finished run (6,000 / 10,000 examples, its steps, the backend), copies
   metrics.json, history.jsonl, config.json and timing.json plus study.json (command, code commit,
   wall and paused seconds) to experiments/converged_study/records/<backbone>/<row>/seed<k>/ and
   commits them ("converged study: record <backbone>/<row>/seed<k>").
Phase 2 (the budget-allowing rows) starts only if phase 1's records took at most
`plan.PHASE2_GATE_HOURS` of active time; the decision is committed once (records/phase2_gate.json).
A run that fails three times in a row gets a committed FAILED.json record instead (its exit
status and log tail) and the study goes on; a later invocation tries it again.
Per-run logs: /work/study_runs/logs/. One instance at a time (/work/study_runs/study.lock).
Expected: one committed record per pre-registered run (`plan.py` prints them), then "study complete".
"""

import argparse
import datetime
import fcntl
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO))

import plan  # noqa: E402
import subset  # noqa: E402

LOCK = "/work/notes/benchmark.lock"
POLL_SECONDS = 10
ATTEMPTS = 3
RECORD_FILES = ("metrics.json", "history.jsonl", "config.json", "timing.json")
PROTOCOL_FILES = ("PREREGISTRATION.md", "plan.py", "subset.py", "run_study.py")
RECORDS = HERE / "records"


def log(message):
    print(f"[{datetime.datetime.now().isoformat(timespec='seconds')}] {message}", flush=True)


def git(*args, check=True):
    """Runs git in the repository, retrying while another git process holds the index lock."""
    for _ in range(60):
        result = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        if result.returncode == 0 or "index.lock" not in result.stderr:
            break
        time.sleep(2)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def check_protocol_committed():
    """Raises unless PREREGISTRATION.md is committed and no protocol file differs from HEAD."""
    relative = [str((HERE / name).relative_to(REPO)) for name in PROTOCOL_FILES]
    if not git("log", "-1", "--format=%H", "--", relative[0]).stdout.strip():
        raise SystemExit("PREREGISTRATION.md is not committed: commit the pre-registration before any study run.")
    changed = git("status", "--porcelain", "--", *relative).stdout.strip()
    if changed:
        raise SystemExit(f"Protocol files differ from the committed ones (no change after pre-registration):\n{changed}")


def committed(path):
    return git("ls-files", "--error-unmatch", str(path), check=False).returncode == 0


class Child:
    """A `tf-wsoftmax train` process in its own process group, paused while the benchmark lock exists."""

    def __init__(self, args, log_path):
        self.log_file = open(log_path, "a")
        command = ["nice", "-n", "19", sys.executable, "-m", "tf_wsoftmax_cli", *args]
        self.log_file.write(f"\n# {datetime.datetime.now().isoformat(timespec='seconds')} {' '.join(command)}\n")
        self.log_file.flush()
        env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        self.paused_seconds = 0.0

    def signal(self, number):
        try:
            os.killpg(self.process.pid, number)
        except ProcessLookupError:
            pass

    def wait(self):
        """Waits for the process, pausing it while the benchmark lock exists; returns its exit status."""
        while True:
            try:
                return self.process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                pass
            if os.path.exists(LOCK):
                log(f"benchmark lock present: pausing pid {self.process.pid} (SIGSTOP)")
                self.signal(signal.SIGSTOP)
                paused = time.time()
                while os.path.exists(LOCK):
                    time.sleep(POLL_SECONDS)
                self.signal(signal.SIGCONT)
                self.paused_seconds += time.time() - paused
                log(f"benchmark lock gone: resumed pid {self.process.pid} after {time.time() - paused:.0f} s")

    def stop(self):
        """Ends the run (it resumes exactly when the study is started again)."""
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.process.wait()
        self.log_file.close()


def wait_for_benchmarks():
    if os.path.exists(LOCK):
        log("benchmark lock present: waiting before starting the next run")
        while os.path.exists(LOCK):
            time.sleep(POLL_SECONDS)
        log("benchmark lock gone")


def check_finished(run, metrics):
    """Raises if a finished run is not the pre-registered one (data sizes, steps, backend)."""
    expected = {"train_examples": plan.TRAIN_EXAMPLES, "test_examples": plan.TEST_EXAMPLES,
                "steps": run.backbone.epochs * plan.STEPS_PER_EPOCH, "backend": plan.BACKEND}
    wrong = {k: metrics.get(k) for k, v in expected.items() if metrics.get(k) != v}
    if wrong:
        raise RuntimeError(f"{run.key}: finished run differs from the plan: {wrong} (expected {expected})")


def commit_record(run, files, message):
    folder = RECORDS / run.key
    git("add", "-A", "--", str(folder))
    if git("diff", "--cached", "--quiet", "--", str(folder), check=False).returncode != 0:
        git("commit", "-q", "-m", message, "--", str(folder))
    log(f"committed {message!r}: {git('rev-parse', '--short', 'HEAD').stdout.strip()}")


def write_record(run, run_dir, study_info):
    folder = RECORDS / run.key
    folder.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        shutil.copyfile(run_dir / name, folder / name)
    (folder / "study.json").write_text(json.dumps(study_info, indent=2) + "\n")
    (folder / "FAILED.json").unlink(missing_ok=True)
    commit_record(run, RECORD_FILES, f"converged study: record {run.key}")


def write_failure(run, study_info):
    folder = RECORDS / run.key
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "FAILED.json").write_text(json.dumps(study_info, indent=2) + "\n")
    commit_record(run, (), f"converged study: record {run.key} (failed)")


def do_run(run, code_commit):
    """Runs one pre-registered run to its end (resuming it) and commits its record; False if it failed."""
    run_dir = pathlib.Path(plan.RUNS_DIR) / run.key
    log_dir = pathlib.Path(plan.RUNS_DIR).parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{run.key.replace('/', '_')}.log"
    args = run.train_args()
    started, paused, statuses = time.time(), 0.0, []
    for attempt in range(1, ATTEMPTS + 1):
        wait_for_benchmarks()
        log(f"start {run.key} (attempt {attempt}): tf-wsoftmax {' '.join(args)}")
        child = Child(args, log_path)
        try:
            status = child.wait()
        finally:
            child.stop()
        paused += child.paused_seconds
        statuses.append(status)
        if status == 0:
            break
        log(f"{run.key}: exit status {status} (log: {log_path})")
    info = {"run": run.key, "command": "tf-wsoftmax " + " ".join(args), "code_commit": code_commit,
            "started": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "wall_seconds": round(time.time() - started, 1), "paused_seconds": round(paused, 1),
            "exit_statuses": statuses, "nice": 19}
    if statuses[-1] != 0:
        info["log_tail"] = log_path.read_text()[-4000:]
        write_failure(run, info)
        return False
    metrics = json.loads((run_dir / "metrics.json").read_text())
    check_finished(run, metrics)
    write_record(run, run_dir, info)
    log(f"done {run.key}: test {100 * metrics['test_accuracy']:.2f} %, train {100 * metrics['train_accuracy']:.2f} %, "
        f"{info['wall_seconds']:.0f} s wall ({info['paused_seconds']:.0f} s paused)")
    return True


def phase1_active_hours():
    """Active hours of the committed phase-1 records: timing.json's train + other seconds minus paused seconds."""
    total = 0.0
    for run in plan.runs():
        folder = RECORDS / run.key
        if run.phase == 1 and (folder / "timing.json").exists():
            timing = json.loads((folder / "timing.json").read_text())
            paused = json.loads((folder / "study.json").read_text()).get("paused_seconds", 0.0)
            total += timing["train_seconds"] + timing.get("other_seconds", 0.0) - paused
    return total / 3600


def phase2_allowed():
    """The pre-registered time gate of phase 2, decided once and committed (records/phase2_gate.json)."""
    path = RECORDS / "phase2_gate.json"
    if not path.exists():
        hours = phase1_active_hours()
        decision = {"phase1_active_hours": round(hours, 3), "gate_hours": plan.PHASE2_GATE_HOURS,
                    "phase2": "run" if hours <= plan.PHASE2_GATE_HOURS else "skipped",
                    "decided": datetime.datetime.now().isoformat(timespec="seconds")}
        RECORDS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(decision, indent=2) + "\n")
        git("add", "--", str(path))
        git("commit", "-q", "-m", f"converged study: phase 2 gate ({decision['phase2']}, "
            f"phase 1 took {hours:.2f} h of {plan.PHASE2_GATE_HOURS} h)", "--", str(path))
        log(f"phase 2 gate: {decision}")
    return json.loads(path.read_text())["phase2"] == "run"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the runs still to do and exit")
    args = parser.parse_args(argv)
    todo = [run for run in plan.runs() if not committed(RECORDS / run.key / "metrics.json")]
    if args.dry_run:
        for run in todo:
            print(run.key)
        return 0
    check_protocol_committed()
    os.makedirs(plan.RUNS_DIR, exist_ok=True)
    instance = open(pathlib.Path(plan.RUNS_DIR).parent / "study.lock", "a+")
    try:
        fcntl.flock(instance.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit("Another run_study.py holds /work/study_runs/study.lock.") from None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hashes = subset.prepare(plan.DATA_DIR, expected=plan.DATA_HASHES)
    log(f"pid {os.getpid()}; data {plan.DATA_DIR} checked ({hashes['class counts']}); "
        f"{len(todo)} of {len(plan.runs())} runs to do")
    code_commit = git("rev-parse", "HEAD").stdout.strip()
    failed = []
    for run in todo:
        if run.phase == 2 and not phase2_allowed():
            log(f"skip {run.key}: phase 2 not run (pre-registered time gate, records/phase2_gate.json)")
            continue
        if not do_run(run, code_commit):
            failed.append(run.key)
    log(f"study complete; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
