"""`TrainConfig`: every setting of one training run, with the paper's defaults."""

import dataclasses

LOSSES = (
    "softmax",
    "normalized_softmax",
    "wsoftmax",
    "lsoftmax",
    "sphereface",
    "cosface",
    "arcface",
    "center",
    "contrastive_center",
)

# Backbone used for each dataset unless `backbone` is set (the L-Softmax
# paper's networks; "small" for the 8x8 digits).
DEFAULT_BACKBONES = {
    "digits": "small",
    "mnist": "mnist",
    "fashion_mnist": "mnist",
    "cifar10": "cifar10",
    "cifar100": "cifar100",
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """One training run.

    Args:
        dataset: "digits", "mnist", "fashion_mnist", "cifar10" or "cifar100".
        data_dir: local files / tfds data dir. Defaults to None.
        classes: keep only the first K classes (Table 4). Defaults to all.
        download: let tensorflow-datasets download. Defaults to True.
        loss: one of `LOSSES`. "center" / "contrastive_center" are softmax
            plus that centre loss.
        alpha: W-Softmax alpha. Defaults to 1.0.
        pretrain_epochs: W-Softmax only: softmax (alpha = 0) epochs before
            the W-Softmax refinement (Algorithm 1). Defaults to 0.
        margin: L-Softmax / A-Softmax integer m (4), or CosFace / ArcFace m
            (None: the head's default).
        scale: CosFace / ArcFace s. Defaults to 16 (the face default 64 is
            for 512-d embeddings of 10k identities).
        center_weight: lambda of the centre losses. Defaults to 0.01.
        center_alpha: center loss centre rate. Defaults to 0.5.
        delta: contrastive-center delta. Defaults to 1.0.
        center_learning_rate: contrastive-center centre rate. Defaults to 0.5.
        backbone: a `tf_wsoftmax.models.BACKBONES` key. Defaults by dataset.
        units: FC feature width. Defaults to the backbone's.
        epochs, batch_size: Defaults 20 / 50 (the paper's MNIST batch).
        learning_rate, decay_steps, decay_rate, momentum, weight_decay: the
            paper's 0.01, 6000, 0.9, 0.9, 5e-4.
        augment: pad-crop + flip (CIFAR). Defaults to False.
        seed: initialisation / shuffling seed. Defaults to 0.
        jit_compile: XLA-compile the train step. Defaults to False.
        checkpoint_every: steps between mid-epoch checkpoints. Defaults to 500.
    """

    dataset: str = "digits"
    data_dir: str = None
    classes: int = None
    download: bool = True
    loss: str = "wsoftmax"
    alpha: float = 1.0
    pretrain_epochs: int = 0
    margin: float = None
    scale: float = 16.0
    center_weight: float = 0.01
    center_alpha: float = 0.5
    delta: float = 1.0
    center_learning_rate: float = 0.5
    backbone: str = None
    units: int = None
    epochs: int = 20
    batch_size: int = 50
    learning_rate: float = 0.01
    decay_steps: int = 6000
    decay_rate: float = 0.9
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = False
    seed: int = 0
    jit_compile: bool = False
    checkpoint_every: int = 500

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"Unknown loss '{self.loss}'. Known: {', '.join(LOSSES)}")
        if self.dataset not in DEFAULT_BACKBONES:
            raise ValueError(f"Unknown dataset '{self.dataset}'. Known: {', '.join(DEFAULT_BACKBONES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"`epochs` and `batch_size` must be >= 1. Received: {self.epochs}, {self.batch_size}")
        if not 0 <= self.pretrain_epochs <= self.epochs:
            raise ValueError(
                f"`pretrain_epochs` must be in [0, epochs={self.epochs}]. Received: {self.pretrain_epochs}"
            )
        if self.pretrain_epochs and self.loss != "wsoftmax":
            raise ValueError("`pretrain_epochs` (softmax pre-training) applies to loss='wsoftmax' only.")
        if self.alpha < 0:
            raise ValueError(f"`alpha` must be >= 0. Received: alpha={self.alpha}")

    @property
    def backbone_name(self):
        return self.backbone or DEFAULT_BACKBONES[self.dataset]
