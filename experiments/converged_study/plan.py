"""The converged study's pre-registered plan as data: data hashes, backbones, rows, seeds, run order.

Nothing here changes after the first study run (PREREGISTRATION.md, "Deviations").
`run_study.py` runs `runs()` in order; `analyse.py` reads the records of the same plan.

Command (prints the ordered runs and their `tf-wsoftmax train` commands):
    /work/main/.venv/bin/python experiments/converged_study/plan.py
"""

import dataclasses

DATA_DIR = "/work/study_runs/fashion_mnist_6k"
RUNS_DIR = "/work/study_runs/runs"
BACKEND = "tensorflow"  # the pilots: faster than Keras-JAX for the `mnist` network on this CPU
TRAIN_EXAMPLES = 6000
TEST_EXAMPLES = 10000
BATCH_SIZE = 50
STEPS_PER_EPOCH = TRAIN_EXAMPLES // BATCH_SIZE

# SHA-256 of the files `subset.prepare` writes (PREREGISTRATION.md, "Data").
DATA_HASHES = {
    "train-images-idx3-ubyte.gz": "a12676c8c2a0599caa830cbb64058d6c0e301d822f65ba8c87014e58edde7cf9",
    "train-labels-idx1-ubyte.gz": "22643c3d61fcbd83c0c89c782d5f41608bde2efaea7506d742dbcb97da9e7fc6",
    "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    "train-images (uncompressed)": "b48c6a0a9b2c058c0793df9e0a78224e39e7b05e6148e2673b387fed7dcbfeb8",
    "train-labels (uncompressed)": "00b17a7c0f077012d4c77c241f33f13855d1b11d2eb614954466c9a96099118e",
    "indices (int64 little-endian)": "cd2cefa39d973f8b70d4698399c5f47f43c8a06bde5e16147406b09f9781d39b",
}


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A backbone of the study: its epochs (from the pilot) and its seeds (0 .. seeds - 1)."""

    name: str
    epochs: int
    seeds: int


@dataclasses.dataclass(frozen=True)
class Row:
    """A loss setting: its name in the records and its `tf-wsoftmax train` flags."""

    name: str
    flags: tuple
    primary: bool = False  # a row of every backbone (False: only the backbones in `OPTIONAL_ON`)


BACKBONES = (
    Backbone("tiny", epochs=30, seeds=6),  # pilot: 99.38 % at 25 epochs, 99.68 % at 30
    Backbone("small", epochs=15, seeds=6),  # pilot: 97.10 % at 8 epochs, 99.92 % at 15
    Backbone("mnist", epochs=5, seeds=4),  # pilot: the longest length estimated to fit 20 min
)

ROWS = (
    Row("softmax", ("--loss", "softmax"), primary=True),
    Row("wsoftmax_stop_a1.5", ("--loss", "wsoftmax", "--alpha", "1.5", "--bias-gradient", "stop"), primary=True),
    Row("normalized_softmax", ("--loss", "normalized_softmax"), primary=True),
    Row("wsoftmax_full_a1", ("--loss", "wsoftmax", "--alpha", "1.0", "--bias-gradient", "full")),
    Row("cosface", ("--loss", "cosface", "--scale", "16", "--cosine-margin", "0.35")),
)
BASELINE = "softmax"
PRIMARY = "wsoftmax_stop_a1.5"
# The budget-allowing rows (primary=False) run on these backbones only, in phase 2, and only if
# phase 1's records took at most PHASE2_GATE_HOURS of active wall time (wall minus paused seconds,
# summed over their study.json): a rule on time, never on results.
OPTIONAL_ON = ("tiny",)
PHASE2_GATE_HOURS = 6.3


@dataclasses.dataclass(frozen=True)
class Run:
    backbone: Backbone
    row: Row
    seed: int

    @property
    def phase(self):
        """1: the rows of every backbone; 2: the budget-allowing rows (run only if the time gate allows)."""
        return 1 if self.row.primary else 2

    @property
    def key(self):
        return f"{self.backbone.name}/{self.row.name}/seed{self.seed}"

    def train_args(self, runs_dir=RUNS_DIR, data_dir=DATA_DIR):
        """The `tf-wsoftmax train` arguments of this run (paper optimiser and Algorithm 1: the defaults)."""
        return ("train", "--dataset", "fashion_mnist", "--data-dir", data_dir, "--no-download",
                "--backbone", self.backbone.name, *self.row.flags, "--epochs", str(self.backbone.epochs),
                "--batch-size", str(BATCH_SIZE), "--seed", str(self.seed), "--backend", BACKEND,
                "--out", f"{runs_dir}/{self.key}")


def rows_of(backbone):
    """The rows run on `backbone`, in the plan's order."""
    return [row for row in ROWS if row.primary or backbone.name in OPTIONAL_ON]


def runs():
    """Every pre-registered run, in the pre-registered order.

    Phase 1 (the rows of every backbone): seed-major; within a seed the backbones tiny, small, mnist
    (mnist only for its seeds), and within a backbone softmax, W-Softmax stop 1.5, normalised
    softmax. After each seed round every backbone has the same seeds of its primary comparison.
    Phase 2 (the budget-allowing rows, on `OPTIONAL_ON`): seed-major, tiny then small.
    """
    order = []
    for seed in range(max(b.seeds for b in BACKBONES)):
        for backbone in BACKBONES:
            if seed < backbone.seeds:
                order += [Run(backbone, row, seed) for row in ROWS if row.primary]
    for seed in range(max(b.seeds for b in BACKBONES if b.name in OPTIONAL_ON)):
        for backbone in BACKBONES:
            if backbone.name in OPTIONAL_ON and seed < backbone.seeds:
                order += [Run(backbone, row, seed) for row in ROWS if not row.primary]
    return order


if __name__ == "__main__":
    for index, run in enumerate(runs(), 1):
        print(f"{index:3d} {run.key}: tf-wsoftmax {' '.join(run.train_args())}")
