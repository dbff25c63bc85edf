"""`TrainConfig`: every setting of one training run, with the paper's defaults."""

import dataclasses

from tf_wsoftmax.ops import check_bias_gradient

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


# L-Softmax's margin and lambda annealing as released per dataset by Liu et
# al. (wy1iu/LargeMargin_Softmax_Loss, myexamples/*/model/*.prototxt):
# MNIST m=4 (QUADRUPLE), base 1000, gamma 2.5e-5, power 35; CIFAR10 m=2
# (DOUBLE), base 1000, gamma 2e-5, power 45; CIFAR10+ (augmented) gamma 1e-5.
# No CIFAR100 release: it takes CIFAR10's. Digits and Fashion-MNIST take MNIST's.
MNIST_LSOFTMAX = {"margin": 4, "lambda_base": 1000.0, "lambda_gamma": 2.5e-5, "lambda_power": 35.0, "lambda_min": 0.0}
CIFAR_LSOFTMAX = {"margin": 2, "lambda_base": 1000.0, "lambda_gamma": 2e-5, "lambda_power": 45.0, "lambda_min": 0.0}
LSOFTMAX_DEFAULTS = {
    "digits": MNIST_LSOFTMAX,
    "mnist": MNIST_LSOFTMAX,
    "fashion_mnist": MNIST_LSOFTMAX,
    "cifar10": CIFAR_LSOFTMAX,
    "cifar100": CIFAR_LSOFTMAX,
}
CIFAR_AUGMENTED_LAMBDA_GAMMA = 1e-5


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
        bias_gradient: W-Softmax backward mode, "stop" or "full" (see
            `NormalizedDense`). Defaults to "stop".
        pretrain_epochs: W-Softmax only: softmax (alpha = 0) epochs before
            the W-Softmax refinement (Algorithm 1), run inside the same
            training run by the head's alpha schedule. Defaults to None: a
            quarter of `epochs` (at least 1 when epochs >= 2); 0 disables.
        fixed_simplex: W-Softmax / normalised softmax: fix the class vectors
            to the regular simplex (needs units >= K - 1). Defaults to False.
        margin: L-Softmax / A-Softmax integer m (None: the dataset's
            released value, see `LSOFTMAX_DEFAULTS`), or CosFace / ArcFace m
            (None: the head's default).
        lambda_base, lambda_gamma, lambda_power, lambda_min: L-Softmax /
            A-Softmax lambda annealing. Defaults to None: the dataset's
            released values (CIFAR with `augment`: gamma 1e-5).
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
    bias_gradient: str = "stop"
    pretrain_epochs: int = None
    fixed_simplex: bool = False
    margin: float = None
    lambda_base: float = None
    lambda_gamma: float = None
    lambda_power: float = None
    lambda_min: float = None
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
        if self.pretrain_epochs is not None:
            if not 0 <= self.pretrain_epochs <= self.epochs:
                raise ValueError(
                    f"`pretrain_epochs` must be in [0, epochs={self.epochs}]. Received: {self.pretrain_epochs}"
                )
            if self.pretrain_epochs and self.loss != "wsoftmax":
                raise ValueError("`pretrain_epochs` (softmax pre-training) applies to loss='wsoftmax' only.")
        if self.alpha < 0:
            raise ValueError(f"`alpha` must be >= 0. Received: alpha={self.alpha}")
        for name in ("learning_rate", "decay_rate"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0. Received: {name}={getattr(self, name)}")
        if self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError(
                f"`weight_decay` must be >= 0 and `momentum` in [0, 1). Received: "
                f"weight_decay={self.weight_decay}, momentum={self.momentum}"
            )
        check_bias_gradient(self.bias_gradient)
        if self.fixed_simplex and self.loss not in ("wsoftmax", "normalized_softmax"):
            raise ValueError("`fixed_simplex` applies to loss='wsoftmax' or 'normalized_softmax' only.")

    @property
    def softmax_epochs(self):
        """Epochs of Algorithm 1's softmax phase (0 unless loss='wsoftmax')."""
        if self.loss != "wsoftmax":
            return 0
        if self.pretrain_epochs is None:
            return max(1, self.epochs // 4) if self.epochs >= 2 else 0
        return self.pretrain_epochs

    def lsoftmax_settings(self):
        """L-Softmax / A-Softmax margin and lambda schedule: the dataset's
        released values, overridden by the fields that are set."""
        settings = dict(LSOFTMAX_DEFAULTS[self.dataset])
        if self.augment and self.dataset.startswith("cifar"):
            settings["lambda_gamma"] = CIFAR_AUGMENTED_LAMBDA_GAMMA
        for key in ("lambda_base", "lambda_gamma", "lambda_power", "lambda_min"):
            if getattr(self, key) is not None:
                settings[key] = getattr(self, key)
        if self.margin is not None:
            # An integer margin is required; 2.0 from a float flag is 2, 2.7 is an error.
            settings["margin"] = int(self.margin) if float(self.margin).is_integer() else self.margin
        return settings

    @property
    def backbone_name(self):
        return self.backbone or DEFAULT_BACKBONES[self.dataset]
