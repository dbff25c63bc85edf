"""`TrainConfig`: every setting of one training run, with the paper's defaults."""

import dataclasses

from tf_wsoftmax.losses import LOSSES as LOSS_REGISTRY
from tf_wsoftmax.losses import get_loss
from tf_wsoftmax.models.specs import BACKBONES
from tf_wsoftmax.models.specs import DEFAULT_BACKBONES

LOSSES = tuple(LOSS_REGISTRY)

# The paper experiments' presets: values the released code or the paper used
# for a dataset, applied before the run's own `loss_params` (which win). They
# are experiment settings over the loss registry's library defaults.
# L-Softmax as released per dataset by Liu et al. (wy1iu/LargeMargin_Softmax_Loss,
# myexamples/*/model/*.prototxt): MNIST m=4 (QUADRUPLE), base 1000, gamma 2.5e-5,
# power 35; CIFAR10 m=2 (DOUBLE), gamma 2e-5, power 45; CIFAR10+ (augmented)
# gamma 1e-5. No CIFAR100 release: it takes CIFAR10's; digits and Fashion-MNIST
# take MNIST's. CosFace / ArcFace: s = 16 for these small 10-class problems
# (the registry's 64 is the face-recognition value).
MNIST_LSOFTMAX = {"multiplicative_margin": 4, "lambda_base": 1000.0, "lambda_gamma": 2.5e-5, "lambda_power": 35.0}
CIFAR_LSOFTMAX = {"multiplicative_margin": 2, "lambda_base": 1000.0, "lambda_gamma": 2e-5, "lambda_power": 45.0}
LSOFTMAX_PRESETS = {
    "digits": MNIST_LSOFTMAX,
    "mnist": MNIST_LSOFTMAX,
    "fashion_mnist": MNIST_LSOFTMAX,
    "cifar10": CIFAR_LSOFTMAX,
    "cifar100": CIFAR_LSOFTMAX,
}
CIFAR_AUGMENTED_LAMBDA_GAMMA = 1e-5
SMALL_PROBLEM_SCALE = 16.0


def paper_presets(loss, dataset, augment):
    """The presets of `loss` on `dataset` (see the table above), as loss_params."""
    if loss == "lsoftmax":
        preset = dict(LSOFTMAX_PRESETS[dataset])
        if augment and dataset.startswith("cifar"):
            preset["lambda_gamma"] = CIFAR_AUGMENTED_LAMBDA_GAMMA
        return preset
    if loss == "sphereface":
        return {"multiplicative_margin": LSOFTMAX_PRESETS[dataset]["multiplicative_margin"]}
    if loss in ("cosface", "arcface"):
        return {"scale": SMALL_PROBLEM_SCALE}
    return {}


def check_sgd_settings(learning_rate, momentum, weight_decay):
    """Raises for a learning rate <= 0, momentum outside [0, 1) or weight decay < 0."""
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0. Received: learning_rate={learning_rate}")
    if not 0 <= momentum < 1:
        raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum}")
    if not weight_decay >= 0:
        raise ValueError(f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay}")


def check_loss_params(loss, loss_params, phase_argument, presets=None):
    """Raises for loss hyperparameters the loss does not have or the layers refuse.

    Args:
        loss: a registry name.
        loss_params: the run's own hyperparameters.
        phase_argument: the config field that sets W-Softmax's softmax phase
            (`alpha_warmup_steps` is derived from it, never given).
        presets: optional values under `loss_params` (the paper presets).
    """
    if "alpha_warmup_steps" in loss_params:
        raise ValueError(
            f"Set W-Softmax's softmax phase with `{phase_argument}`; `alpha_warmup_steps` is derived from it."
        )
    # Unknown names and invalid values are errors now, with the layers' own messages; the stand-in
    # number of classes is one the draw's blocks divide (the run's own: `check_classes`).
    params = {**(presets or {}), **loss_params}
    blocks = params.get("sample_blocks")
    classes = 2 * blocks if isinstance(blocks, int) and not isinstance(blocks, bool) and blocks >= 1 else 2
    get_loss(loss).build(classes, **params)


def check_classes(loss, loss_params, classes):
    """Builds the run's layers for its own number of classes, so a hyperparameter that must suit K
    (Partial FC's `sample_blocks`, a divisor of K) is refused with the layer's own message.

    Called before the run folder is claimed, so a refused run writes nothing there. Builds no
    variables.

    Args:
        loss: registry name.
        loss_params: the run's own hyperparameters (checked by `check_loss_params`).
        classes: the run's number of classes.
    """
    get_loss(loss).build(classes, **loss_params)


def identity_loss_params(loss, params):
    """A run identity's loss hyperparameters: the resolved `params` of `loss` less those added after
    run folders were written (`Hyperparameter.new_since_runs`) that are at their default, so a
    folder written before one of them (with the behaviour of its default) still resumes.

    Args:
        loss: registry name.
        params: its resolved hyperparameters (every one named).

    Returns:
        A new dict.
    """
    left_out = {
        h.name for h in get_loss(loss).hyperparameters
        if h.new_since_runs and h.name in params and params[h.name] == h.default
    }
    return {name: value for name, value in params.items() if name not in left_out}


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
        loss_params: the loss's hyperparameters by their registry names
            (`tf_wsoftmax.losses.LOSSES[loss].hyperparameters`, e.g.
            {"alpha": 1.5, "bias_gradient": "full"}); the rest take the paper
            presets of the dataset (`paper_presets`), then the registry's
            defaults. A name the loss does not have is an error. Defaults to {}.
        pretrain_epochs: W-Softmax only: softmax (alpha = 0) epochs before
            the W-Softmax refinement (Algorithm 1), run inside the same
            training run by the head's alpha schedule. Defaults to None: a
            quarter of `epochs` (at least 1 when epochs >= 2); 0 disables.
        backbone: a `tf_wsoftmax.models.BACKBONES` key. Defaults by dataset.
        feature_dim: width of the FC feature layer. Defaults to the backbone's.
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
    loss_params: dict = dataclasses.field(default_factory=dict)
    pretrain_epochs: int = None
    backbone: str = None
    feature_dim: int = None
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
        check_sgd_settings(self.learning_rate, self.momentum, self.weight_decay)
        if not self.decay_rate > 0:
            raise ValueError(f"`decay_rate` must be > 0. Received: decay_rate={self.decay_rate}")
        check_loss_params(
            self.loss, self.loss_params, "pretrain_epochs", paper_presets(self.loss, self.dataset, self.augment)
        )

    def resolved_loss_params(self):
        """The hyperparameters the run uses: presets, overridden by `loss_params`."""
        return get_loss(self.loss).resolve({**paper_presets(self.loss, self.dataset, self.augment), **self.loss_params})

    def with_loss(self, loss, **loss_params):
        """A copy for another loss, keeping the `loss_params` that loss also has."""
        names = {h.name for h in get_loss(loss).hyperparameters}
        kept = {k: v for k, v in self.loss_params.items() if k in names}
        pretrain = self.pretrain_epochs if loss == "wsoftmax" else None
        return dataclasses.replace(self, loss=loss, loss_params={**kept, **loss_params}, pretrain_epochs=pretrain)

    @property
    def softmax_epochs(self):
        """Epochs of Algorithm 1's softmax phase (0 unless loss='wsoftmax') for a new run."""
        if self.loss != "wsoftmax":
            return 0
        if self.pretrain_epochs is None:
            return max(1, self.epochs // 4) if self.epochs >= 2 else 0
        return self.pretrain_epochs

    def softmax_steps(self, steps_per_epoch, saved=None):
        """Steps of the softmax phase: decided when the run starts, then kept.

        Args:
            steps_per_epoch: batches per epoch.
            saved: the identity of the run this call resumes, or None.

        Returns:
            `pretrain_epochs` x steps when given; else the saved run's value
            (raising `epochs` on resume keeps the schedule already run); else
            a quarter of `epochs` (`softmax_epochs`).
        """
        if self.pretrain_epochs is None and saved is not None and isinstance(saved.get("softmax_steps"), int):
            return saved["softmax_steps"]
        return self.softmax_epochs * steps_per_epoch

    @property
    def backbone_name(self):
        return self.backbone or DEFAULT_BACKBONES[self.dataset]

    def resolved(self, softmax_steps):
        """Every setting of the run with its defaults and presets filled in (the run's identity).

        A setting left to its default and the same value typed out resolve
        alike: the loss's hyperparameters (presets, then the registry's
        defaults), the backbone and its feature width, and the softmax phase
        in steps (`pretrain_epochs` is replaced by "softmax_steps").

        Args:
            softmax_steps: the run's softmax steps (`softmax_steps`).

        Returns:
            A JSON-able dict.
        """
        resolved = dataclasses.asdict(self)
        loss_params = identity_loss_params(self.loss, self.resolved_loss_params())
        if "alpha_warmup_steps" in loss_params:
            loss_params["alpha_warmup_steps"] = softmax_steps
        del resolved["pretrain_epochs"]
        resolved.update(
            loss_params=loss_params, backbone=self.backbone_name, softmax_steps=softmax_steps,
            feature_dim=self.feature_dim or BACKBONES[self.backbone_name].feature_dim,
        )
        return resolved
