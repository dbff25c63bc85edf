"""`make demo`: softmax vs W-Softmax on the bundled digits, through compile/fit."""

import dataclasses
import math
import time
import typing

import keras
import numpy as np

from tf_wsoftmax.data import load_digits_split
from tf_wsoftmax.eval import mean_class_angles
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import WSoftmaxLoss
from tf_wsoftmax.models import build_small_cnn
from tf_wsoftmax.models import classifier
from tf_wsoftmax.training import paper_kernel_regularizer
from tf_wsoftmax.training import paper_optimizer


def default_softmax_epochs(epochs):
    """Algorithm 1's softmax phase when none is given: a quarter of the epochs (at least 1, none for 1 epoch)."""
    return max(1, epochs // 4) if epochs >= 2 else 0


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """Settings of the digits demo.

    Args:
        epochs: total epochs of each run. Defaults to 20.
        pretrain_epochs: W-Softmax run only: epochs of softmax (alpha = 0)
            before the W-Softmax refinement (the paper's Algorithm 1), in
            [0, epochs]. Defaults to None: a quarter of `epochs`, as `train`
            does (`default_softmax_epochs`; 5 of 20).
        alpha: W-Softmax weight bias of the refinement.
        bias_gradient: W-Softmax backward mode, "stop" or "full".
        feature_dim: width of the feature layer.
        batch_size: batch size (the paper uses 50 on MNIST).
        seed: seed of the split, the initialisation and the shuffling.
    """

    epochs: int = 20
    pretrain_epochs: typing.Optional[int] = None
    alpha: float = 1.0
    bias_gradient: str = "stop"
    feature_dim: int = 9
    batch_size: int = 50
    seed: int = 0

    def __post_init__(self):
        if not self.epochs >= 1:
            raise ValueError(f"`epochs` must be >= 1. Received: epochs={self.epochs}")
        if self.pretrain_epochs is not None and not 0 <= self.pretrain_epochs <= self.epochs:
            raise ValueError(
                f"`pretrain_epochs` must be in [0, epochs={self.epochs}]. "
                f"Received: pretrain_epochs={self.pretrain_epochs}"
            )
        if self.alpha < 0:
            raise ValueError(f"`alpha` must be >= 0. Received: alpha={self.alpha}")

    @property
    def softmax_epochs(self):
        """Epochs of the W-Softmax run's softmax phase: `pretrain_epochs`, or a quarter of `epochs`."""
        return default_softmax_epochs(self.epochs) if self.pretrain_epochs is None else self.pretrain_epochs


class EpochLog(keras.callbacks.Callback):
    """Prints one line per epoch: the run, the epoch, its phase, the training loss and accuracy.

    Args:
        run: the run's name ("softmax", "wsoftmax").
        epochs: the number of epochs.
        softmax_epochs: epochs of Algorithm 1's softmax phase (0 for none).
        write: the function that prints a line. Defaults to `print`.
    """

    def __init__(self, run, epochs, softmax_epochs=0, write=print):
        super().__init__()
        self.run = run
        self.epochs = epochs
        self.softmax_epochs = softmax_epochs
        self.write = write

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        phase = ""
        if self.run == "wsoftmax":
            phase = " (softmax phase)" if epoch < self.softmax_epochs else " (W-Softmax)"
        self.write(
            f"{self.run} epoch {epoch + 1}/{self.epochs}{phase}: loss {logs.get('loss', float('nan')):.4f}, "
            f"train accuracy {logs.get('accuracy', float('nan')):.4f}"
        )


def _evaluate(backbone, head, model, images, labels):
    features = backbone.predict(images, verbose=0)
    logits = model.predict(images, verbose=0)
    accuracy = float(np.mean(np.argmax(logits, axis=-1) == labels))
    angles = mean_class_angles(features, labels, keras.ops.convert_to_numpy(head.kernel))
    return accuracy, float(np.nanmean(angles))


def _fit(model, optimizer, loss, data, config, callbacks):
    (x_train, y_train) = data
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    model.fit(x_train, y_train, batch_size=config.batch_size, epochs=config.epochs, shuffle=True, verbose=0,
              callbacks=callbacks)


def run_one(loss_name, config, train, test, log=True):
    """Trains one model ("softmax" or "wsoftmax") and returns its metrics.

    Args:
        loss_name: "softmax" or "wsoftmax".
        config: a `DemoConfig`.
        train, test: (images, labels) of each split.
        log: print one line per epoch (`EpochLog`). Defaults to True.

    Returns:
        dict: loss, test / train accuracy, mean Eq. 14 angle test / train
        (degrees), seconds.
    """
    keras.utils.set_random_seed(config.seed)
    backbone = build_small_cnn(
        feature_dim=config.feature_dim, kernel_regularizer=paper_kernel_regularizer()
    )
    started = time.time()
    if loss_name == "softmax":
        head = keras.layers.Dense(10, kernel_initializer="glorot_uniform", name="head")
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        # Algorithm 1 in one fit: the head's alpha stays 0 for the softmax epochs.
        steps_per_epoch = math.ceil(len(train[1]) / config.batch_size)
        head = NormalizedDense(
            10,
            alpha=config.alpha,
            bias_gradient=config.bias_gradient,
            alpha_warmup_steps=config.softmax_epochs * steps_per_epoch,
            name="head",
        )
        loss = WSoftmaxLoss(head)
    model = classifier(backbone, head)
    callbacks = [EpochLog(loss_name, config.epochs, config.softmax_epochs)] if log else []
    _fit(model, paper_optimizer(), loss, train, config, callbacks)
    train_accuracy, train_angle = _evaluate(backbone, head, model, *train)
    test_accuracy, test_angle = _evaluate(backbone, head, model, *test)
    return {
        "loss": loss_name,
        "test_accuracy": test_accuracy,
        "train_accuracy": train_accuracy,
        "mean_angle_test": test_angle,
        "mean_angle_train": train_angle,
        "seconds": time.time() - started,
    }


def run_digits_demo(config=DemoConfig(), log=True):
    """Trains the same CNN with softmax and with W-Softmax on digits.

    Args:
        config: a `DemoConfig`.
        log: print one line per epoch. Defaults to True.

    Returns:
        A list of two metric dicts (softmax, wsoftmax).
    """
    train, test = load_digits_split(seed=config.seed)
    return [run_one(name, config, train, test, log) for name in ("softmax", "wsoftmax")]


# The key printed under the table.
ANGLE_KEY = (
    "Angle columns: the mean angle between each feature and its own class vector W_y (Eq. 14), in "
    "degrees, on test and train images; lower means tighter classes."
)


def format_results(results, config):
    """Renders the demo results as a Markdown table, with a one-line key to the angle columns under it."""
    lines = [
        f"digits (sklearn, {config.epochs} epochs, batch {config.batch_size}, "
        f"W-Softmax alpha={config.alpha} ({config.bias_gradient} bias gradient) after "
        f"{config.softmax_epochs} softmax epochs, seed {config.seed})",
        "| loss | test acc | train acc | mean intra-class angle test (deg) | train (deg) | time (s) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['loss']} | {r['test_accuracy']:.4f} | {r['train_accuracy']:.4f} | "
            f"{r['mean_angle_test']:.2f} | {r['mean_angle_train']:.2f} | {r['seconds']:.0f} |"
        )
    lines.append(ANGLE_KEY)
    return "\n".join(lines)
