"""Builds the head and the optional centre loss of a `TrainConfig` through the loss registry."""

from tf_wsoftmax.losses import build_loss


def build_head_and_feature_loss(config, num_classes, alpha_warmup_steps=0):
    """Returns (head, feature_loss or None) for `config.loss`.

    Args:
        config: a `TrainConfig` (its `resolved_loss_params()`: the run's
            `loss_params` over the dataset's paper presets).
        num_classes: K.
        alpha_warmup_steps: W-Softmax: softmax steps first (Algorithm 1),
            the head's alpha warm-up. Defaults to 0.

    Returns:
        The classifier head (named "head") and the centre layer or None.
    """
    params = config.resolved_loss_params()
    if "alpha_warmup_steps" in params:
        params["alpha_warmup_steps"] = alpha_warmup_steps
    return build_loss(config.loss, num_classes, **params)
