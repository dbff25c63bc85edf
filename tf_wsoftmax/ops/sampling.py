"""Class sampling of Partial FC (An et al., ICCVW 2021): score a step against a subset of the classes."""

import math

import keras

from tf_wsoftmax.ops import _backend

# The logit of a padding column (see `sample_classes`): exp(PADDING_LOGIT - max) is 0 in float32,
# so the column takes no part in the softmax and gets no gradient.
PADDING_LOGIT = -1e9


def num_sampled_classes(sample_rate, num_classes):
    """round(sample_rate * K) classes, at least 1 (halves round up).

    Args:
        sample_rate: float in (0, 1].
        num_classes: K.

    Returns:
        int in [1, K].
    """
    return min(num_classes, max(1, math.floor(sample_rate * num_classes + 0.5)))


def sample_classes(labels, num_classes, num_sampled, seed, step):
    """Every class of the batch plus classes drawn uniformly without replacement.

    Partial FC's draw (arcface_torch `partial_fc_v2.py`): each class gets a
    uniform score in [0, 1), the batch's classes get 2, and the classes of
    the largest scores are kept. The set has max(`num_sampled`, distinct
    classes of the batch) classes. A compiled step needs a static width, so
    the returned set has W = min(K, max(`num_sampled`, B)) entries; when W
    exceeds the set's size (a batch larger than `num_sampled` with repeated
    classes) the last entries are padding, marked in `valid` (their logits
    must be `PADDING_LOGIT`: `mask_padding`).

    Args:
        labels: validated int32 (B,) class ids of the (global) batch.
        num_classes: K.
        num_sampled: the number of classes to keep (`num_sampled_classes`).
        seed: integer scalar (int or tensor, e.g. a weight): the seed of the draws.
        step: integer scalar (int or tensor): which draw of that seed (the
            training step). The draw is a function of (seed, step) alone
            (`_backend.uniform_at`), so a run resumed at step t draws what
            the first run drew at step t.

    Returns:
        (classes, sampled_labels, valid): int32 (W,) class ids (the batch's
        classes first); int32 (B,) positions of `labels` in `classes`; a
        bool (W,) mask of the real entries, or None when there is no padding
        (W == `num_sampled`, always the case for a batch of at most
        `num_sampled` samples).
    """
    batch = labels.shape[0]
    if batch is None:  # a TensorFlow graph of unknown batch size: the width is dynamic
        width = keras.ops.minimum(num_classes, keras.ops.maximum(num_sampled, keras.ops.shape(labels)[0]))
        padded = True
    else:
        width = min(num_classes, max(num_sampled, batch))
        padded = width > num_sampled
    counts = keras.ops.scatter(labels[:, None], keras.ops.ones_like(labels), (num_classes,))
    in_batch = counts > 0
    scores = _backend.uniform_at((num_classes,), seed, step)
    scores = keras.ops.where(in_batch, 2.0, scores)
    _, classes = keras.ops.top_k(scores, width, sorted=True)
    classes = keras.ops.cast(classes, "int32")
    positions = keras.ops.scatter(
        classes[:, None], keras.ops.arange(keras.ops.shape(classes)[0], dtype="int32"), (num_classes,)
    )
    sampled_labels = keras.ops.take(positions, labels)
    valid = None
    if padded:
        kept = keras.ops.maximum(num_sampled, keras.ops.sum(keras.ops.cast(in_batch, "int32")))
        valid = keras.ops.arange(keras.ops.shape(classes)[0], dtype="int32") < kept
    return classes, sampled_labels, valid


def mask_padding(logits, valid):
    """`PADDING_LOGIT` in the padding columns of (B, W) logits (`valid` from `sample_classes`; None: none)."""
    if valid is None:
        return logits
    return keras.ops.where(valid[None, :], logits, keras.ops.cast(PADDING_LOGIT, logits.dtype))
