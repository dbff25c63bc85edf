"""The paper's optimisation recipe (Sec. 5.1) as Keras objects."""

import keras

PAPER_LEARNING_RATE = 0.01
PAPER_DECAY_STEPS = 6000
PAPER_DECAY_RATE = 0.9
PAPER_MOMENTUM = 0.9
PAPER_WEIGHT_DECAY = 5e-4


def paper_learning_rate(
    initial_learning_rate=PAPER_LEARNING_RATE,
    decay_steps=PAPER_DECAY_STEPS,
    decay_rate=PAPER_DECAY_RATE,
):
    """lr 0.01, multiplied by 0.9 every 6000 steps (a staircase).

    Args:
        initial_learning_rate: starting rate. Defaults to 0.01.
        decay_steps: steps between decays. Defaults to 6000.
        decay_rate: factor per decay. Defaults to 0.9.

    Returns:
        A `keras.optimizers.schedules.ExponentialDecay` with staircase=True.
    """
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps, decay_rate, staircase=True
    )


def paper_optimizer(learning_rate=None, momentum=PAPER_MOMENTUM, lazy_columns=False):
    """SGD with momentum 0.9 on the paper's learning-rate schedule.

    Weight decay is not part of the optimiser: the paper's 5e-4 is applied
    as an L2 penalty on kernels (see `paper_kernel_regularizer`), so it flows
    through the momentum buffer exactly as Caffe/TF-slim weight decay does.

    Args:
        learning_rate: float or schedule. Defaults to `paper_learning_rate()`.
        momentum: Defaults to 0.9.
        lazy_columns: a `LazyColumnSGD`, for a class-sampling head (Partial
            FC: its unsampled columns and their momentum stay put; the
            training entry points register the head's kernel). Defaults to False.

    Returns:
        A `keras.optimizers.SGD` (or `LazyColumnSGD`).
    """
    if learning_rate is None:
        learning_rate = paper_learning_rate()
    if lazy_columns:
        from tf_wsoftmax.training.lazy_columns import LazyColumnSGD

        return LazyColumnSGD(learning_rate=learning_rate, momentum=momentum)
    return keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum)


def paper_kernel_regularizer(weight_decay=PAPER_WEIGHT_DECAY):
    """The paper's weight decay 5e-4 as a Keras L2 penalty.

    Caffe's `weight_decay: wd` adds wd * w to the gradient, and TF-slim's
    `l2_regularizer(wd)` adds wd * sum(w^2) / 2 to the loss (same gradient).
    Keras' `L2(l)` adds l * sum(w^2) (gradient 2 l w), so l = wd / 2
    reproduces the paper's decay.

    Args:
        weight_decay: the paper's coefficient. Defaults to 5e-4.

    Returns:
        `keras.regularizers.L2(weight_decay / 2)`, or None if weight_decay is 0.
    """
    if weight_decay < 0:
        raise ValueError(f"`weight_decay` must be >= 0. Received: weight_decay={weight_decay}")
    if weight_decay == 0:
        return None
    return keras.regularizers.L2(weight_decay / 2.0)
