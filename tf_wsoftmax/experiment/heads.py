"""Builds the head and the optional centre loss that a `TrainConfig.loss` names."""

import keras

from tf_wsoftmax import layers


def build_head_and_feature_loss(config, num_classes, alpha_warmup_steps=0):
    """Returns (head, feature_loss or None) for `config.loss`.

    Args:
        config: a `TrainConfig`.
        num_classes: K.
        alpha_warmup_steps: W-Softmax: softmax steps first (Algorithm 1),
            the head's alpha warm-up. Defaults to 0.

    Returns:
        The classifier head (named "head") and the centre layer or None.
    """
    loss = config.loss
    margin_kwargs = {} if config.margin is None else {"margin": config.margin}
    if loss in ("softmax", "center", "contrastive_center"):
        head = keras.layers.Dense(num_classes, kernel_initializer="glorot_uniform", name="head")
    elif loss == "normalized_softmax":
        head = layers.NormalizedDense(num_classes, fixed_simplex=config.fixed_simplex, name="head")
    elif loss == "wsoftmax":
        head = layers.NormalizedDense(
            num_classes,
            alpha=config.alpha,
            bias_gradient=config.bias_gradient,
            alpha_warmup_steps=alpha_warmup_steps,
            fixed_simplex=config.fixed_simplex,
            name="head",
        )
    elif loss == "lsoftmax":
        head = layers.LSoftmaxDense(num_classes, name="head", **config.lsoftmax_settings())
    elif loss == "sphereface":
        head = layers.SphereFaceDense(num_classes, margin=config.lsoftmax_settings()["margin"], name="head")
    elif loss == "cosface":
        head = layers.CosFaceDense(num_classes, scale=config.scale, name="head", **margin_kwargs)
    else:
        head = layers.ArcFaceDense(num_classes, scale=config.scale, name="head", **margin_kwargs)
    feature_loss = None
    if loss == "center":
        feature_loss = layers.CenterLossLayer(num_classes, weight=config.center_weight, alpha=config.center_alpha)
    elif loss == "contrastive_center":
        feature_loss = layers.ContrastiveCenterLossLayer(
            num_classes,
            weight=config.center_weight,
            delta=config.delta,
            center_learning_rate=config.center_learning_rate,
        )
    return head, feature_loss
