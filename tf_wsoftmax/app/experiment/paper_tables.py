"""The paper's MNIST-family tables in one time budget: Table 1, Fig. 5's per-class angles and Table 4.

`paper_tables` first times one epoch of the released MNIST network, sizes
the epochs of every run to fit the budget, then trains (resumable run
folders, `run_all`) and writes `paper_tables.json`, `paper_tables.md` and
`fig5_angles.png`. It runs on any Keras backend; `experiments/gpu_paper_tables.sh`
runs it on Keras-JAX on a GPU machine without TensorFlow.
"""

import dataclasses
import json
import math
import os
import sys
import time

import keras

from tf_wsoftmax.app.experiment.config import TrainConfig
from tf_wsoftmax.app.experiment.run import TIMING_FILE
from tf_wsoftmax.app.experiment.run import hardware_description
from tf_wsoftmax.app.experiment.run import run_training
from tf_wsoftmax.app.experiment.run import write_json
from tf_wsoftmax.app.experiment.sweeps import caption
from tf_wsoftmax.app.experiment.sweeps import run_all
from tf_wsoftmax.data import DATASETS
from tf_wsoftmax.eval import plots

# Table 1's rows (MNIST): softmax, L-Softmax (the released MNIST margin,
# `paper_presets`) and W-Softmax at the paper's three alphas.
TABLE1_ROWS = {
    "softmax": ("softmax", {}),
    "lsoftmax": ("lsoftmax", {}),
    "wsoftmax_a0.5": ("wsoftmax", {"alpha": 0.5}),
    "wsoftmax_a1": ("wsoftmax", {"alpha": 1.0}),
    "wsoftmax_a1.5": ("wsoftmax", {"alpha": 1.5}),
}
# Table 4: the first K classes, softmax vs W-Softmax (K = 10 is Table 1).
TABLE4_CLASSES = (5, 6, 7, 8, 9)
TABLE4_ALPHA = 1.0
TINY_TABLE4_CLASSES = (5,)


@dataclasses.dataclass(frozen=True)
class PaperTablesConfig:
    """What `paper_tables` runs.

    Args:
        dataset: "mnist" or "fashion_mnist" (IDX files in `data_dir`).
        data_dir: the IDX folder.
        budget_seconds: wall time for all the runs (the timing epoch
            included). Defaults to 600.
        runs_dir: the run folders (resumable). Defaults to "runs/paper_tables".
        seed: Defaults to 0.
        tiny: a smoke test: backbone "tiny", one epoch, Table 4 on K = 5
            only. Defaults to False.
        max_epochs: cap on the sized epochs. Defaults to 100 (the paper's
            scale; a GPU budget of minutes gives fewer).
    """

    dataset: str = "mnist"
    data_dir: str = None
    budget_seconds: float = 600.0
    runs_dir: str = "runs/paper_tables"
    seed: int = 0
    tiny: bool = False
    max_epochs: int = 100

    def __post_init__(self):
        if self.dataset not in ("mnist", "fashion_mnist"):
            raise ValueError(f"`dataset` must be 'mnist' or 'fashion_mnist'. Received: {self.dataset!r}")
        if not self.data_dir or not os.path.isdir(self.data_dir):
            raise ValueError(f"`data_dir` must be a folder of IDX files. Received: {self.data_dir!r}")
        if not (self.budget_seconds > 0 and math.isfinite(self.budget_seconds)):
            raise ValueError(f"`budget_seconds` must be finite and > 0. Received: {self.budget_seconds}")
        if self.max_epochs < 1:
            raise ValueError(f"`max_epochs` must be >= 1. Received: {self.max_epochs}")

    def base(self, epochs):
        """The `TrainConfig` every run starts from (the paper's MNIST schedule, no download)."""
        return TrainConfig(
            dataset=self.dataset, data_dir=self.data_dir, download=False, epochs=epochs, seed=self.seed,
            backbone="tiny" if self.tiny else None, batch_size=50, checkpoint_every=2000,
        )

    @property
    def table4_classes(self):
        return TINY_TABLE4_CLASSES if self.tiny else TABLE4_CLASSES


def run_configs(config, epochs):
    """Every run of the tables: name -> `TrainConfig` (Table 1 rows, then Table 4's)."""
    base = config.base(epochs)
    configs = {name: base.with_loss(loss, **params) for name, (loss, params) in TABLE1_ROWS.items()}
    for k in config.table4_classes:
        configs[f"softmax_k{k}"] = dataclasses.replace(base.with_loss("softmax"), classes=k)
        configs[f"wsoftmax_k{k}"] = dataclasses.replace(base.with_loss("wsoftmax", alpha=TABLE4_ALPHA), classes=k)
    return configs


def size_epochs(timing, configs, budget_seconds, max_epochs):
    """Epochs per run so that all runs fit the budget, from one timed epoch.

    The timed epoch's training time (compilation included, so an upper
    bound) gives the seconds per epoch; its other time (loading, building,
    evaluation, saving) is charged once per run. A run on the first K
    classes has about K / classes of the steps.

    Args:
        timing: the timing run's record: `train_seconds`, `other_seconds`,
            `num_classes`.
        configs: the runs (name -> `TrainConfig`).
        budget_seconds: what is left of the budget.
        max_epochs: cap.

    Returns:
        (epochs >= 1, the estimated seconds of all runs at that many epochs).
    """
    seconds_per_epoch = timing["train_seconds"]
    fractions = [(c.classes or timing["num_classes"]) / timing["num_classes"] for c in configs.values()]
    per_epoch = seconds_per_epoch * sum(fractions)
    fixed = timing["other_seconds"] * len(configs)
    epochs = int(max(1, min(max_epochs, math.floor((budget_seconds - fixed) / per_epoch))))
    return epochs, fixed + epochs * per_epoch


PLAN_FILE = "plan.json"


def plan_key(config):
    """Everything the plan depends on: a plan made for another key is made again."""
    base = config.base(1)
    return {
        "budget_seconds": config.budget_seconds, "tiny": config.tiny, "max_epochs": config.max_epochs,
        "dataset": config.dataset, "backbone": base.backbone_name, "seed": config.seed,
        "backend": keras.backend.backend(), "hardware": hardware_description(),
    }


def _plan(config, started):
    """The epochs of this `runs_dir`, sized from one timed epoch, and kept in `plan.json` under its key.

    The timing run is an ordinary resumable run folder (`runs_dir/timing_<backbone>`),
    whose timing.json (derived from its checkpoint) holds the seconds it
    trained, so the plan can always be made again from it: a kill between
    the timing run and `plan.json` loses nothing, and a plan of another key
    (budget, `--tiny`, `--max-epochs`, dataset, backbone, backend, hardware)
    is sized again without training again.
    """
    path = os.path.join(config.runs_dir, PLAN_FILE)
    key = plan_key(config)
    if os.path.exists(path):
        with open(path) as f:
            plan = json.load(f)
        if isinstance(plan, dict) and plan.get("key") == key:
            return plan
    timing_dir = os.path.join(config.runs_dir, f"timing_{key['backbone']}")
    timing = run_training(config.base(1).with_loss("wsoftmax", alpha=1.0), timing_dir, verbose=False)
    with open(os.path.join(timing_dir, TIMING_FILE)) as f:
        seconds = json.load(f)
    record = {"train_seconds": seconds["train_seconds"], "other_seconds": seconds.get("other_seconds", 0.0),
              "steps": seconds["steps"], "num_classes": timing["num_classes"]}
    left = config.budget_seconds - (time.time() - started)
    epochs, estimate = size_epochs(record, run_configs(config, 1), left, 1 if config.tiny else config.max_epochs)
    plan = {"key": key, "epochs": epochs, "estimated_seconds": estimate, "timing": record}
    write_json(path, plan)
    return plan


def over_budget_warning(plan, budget_seconds):
    """What to say before the runs start when even their sized length is past the budget (else None)."""
    if plan["estimated_seconds"] <= budget_seconds:
        return None
    return (
        f"the runs are estimated at {plan['estimated_seconds'] / 60:.1f} min at {plan['epochs']} epoch(s) each, past "
        f"the budget of {budget_seconds / 60:.1f} min (the timed epoch took {plan['timing']['train_seconds']:.1f} s); "
        "they run anyway: give a larger --budget-minutes, or --tiny."
    )


def paper_tables(config, out_dir):
    """Times, sizes, trains and writes the tables (see the module docstring).

    Args:
        config: a `PaperTablesConfig`.
        out_dir: where paper_tables.json / .md and fig5_angles.png go
            (the run folders go to `config.runs_dir`).

    Returns:
        The summary dict written to paper_tables.json.
    """
    started = time.time()
    os.makedirs(out_dir, exist_ok=True)
    plan = _plan(config, started)
    epochs, estimate, timing = plan["epochs"], plan["estimated_seconds"], plan["timing"]
    warning = over_budget_warning(plan, config.budget_seconds)
    if warning:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    configs = run_configs(config, epochs)
    results = run_all(configs, os.path.join(config.runs_dir, f"epochs{epochs}"))
    table1 = [
        {"row": name, "loss": configs[name].loss, "hyperparameters": configs[name].loss_params,
         "test_accuracy": results[name]["test_accuracy"], "mean_angle_test": results[name]["mean_angle_test"],
         "mean_angle_train": results[name]["mean_angle_train"]}
        for name in TABLE1_ROWS
    ]
    fig5 = {name: results[name]["angles_test"]["per_class"] for name in TABLE1_ROWS if name != "lsoftmax"}
    table4 = [
        {"classes": k, "softmax": results[f"softmax_k{k}"]["test_accuracy"],
         "wsoftmax": results[f"wsoftmax_k{k}"]["test_accuracy"]}
        for k in config.table4_classes
    ]
    plots.plot_angle_bars(fig5, os.path.join(out_dir, "fig5_angles.png"), subtitle=caption(config.base(epochs)))
    summary = {
        "dataset": config.dataset,
        "classes": DATASETS[config.dataset].num_classes,
        "backbone": configs["softmax"].backbone_name,
        "epochs": epochs,
        "steps_per_epoch": timing["steps"],
        "timing_epoch_seconds": timing["train_seconds"],
        "estimated_seconds": round(estimate, 1),
        "seconds": round(time.time() - started, 1),
        "budget_seconds": config.budget_seconds,
        "hardware": hardware_description(),
        "table1": table1,
        "fig5_per_class": fig5,
        "table4": table4,
        "tiny": config.tiny,
    }
    write_json(os.path.join(out_dir, "paper_tables.json"), summary)
    with open(os.path.join(out_dir, "paper_tables.md"), "w") as f:
        f.write(format_tables(summary) + "\n")
    return summary


def format_tables(summary):
    """Table 1 and Table 4 as Markdown, with the run's epochs and hardware."""
    lines = [
        f"{summary['dataset']}, backbone {summary['backbone']}, {summary['epochs']} epochs "
        f"({summary['steps_per_epoch']} steps each), {summary['hardware']}, {summary['seconds']:.0f} s in all",
        "",
        "| Table 1 row | test accuracy % | Eq. 14 test (deg) | Eq. 14 train (deg) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {r['row']} | {100 * r['test_accuracy']:.2f} | {r['mean_angle_test']:.2f} | {r['mean_angle_train']:.2f} |"
        for r in summary["table1"]
    ]
    lines += ["", f"| Table 4: first K classes | softmax % | W-Softmax (alpha {TABLE4_ALPHA:g}) % |", "|---|---|---|"]
    lines += [f"| {r['classes']} | {100 * r['softmax']:.2f} | {100 * r['wsoftmax']:.2f} |" for r in summary["table4"]]
    return "\n".join(lines)
