"""Class sampling of Partial FC (An et al., ICCVW 2021): score a step against a subset of the classes."""

import math

import keras

from tf_wsoftmax.ops import _backend

# The logit of a padding column (see `sample_classes`): exp(PADDING_LOGIT - max) is 0 in float32,
# so the column takes no part in the softmax and gets no gradient.
PADDING_LOGIT = -1e9


def num_sampled_classes(sample_rate, num_classes, blocks=1):
    """round(sample_rate * K / S) classes from each of S blocks, at least 1 each (halves round up).

    Args:
        sample_rate: float in (0, 1].
        num_classes: K.
        blocks: S, a divisor of K (`sample_classes`). Defaults to 1.

    Returns:
        int in [S, K], a multiple of S.
    """
    block = num_classes // blocks
    return blocks * min(block, max(1, math.floor(sample_rate * block + 0.5)))


def sample_classes(labels, num_classes, num_sampled, seed, step, blocks=1):
    """Every class of the batch plus classes drawn uniformly without replacement.

    Partial FC's draw (arcface_torch `partial_fc_v2.py`): each class gets a
    uniform score in [0, 1), the batch's classes get 2, and the classes of
    the largest scores are kept. The set has max(`num_sampled`, distinct
    classes of the batch) classes. A compiled step needs a static width, so
    the returned set has W = min(K, max(`num_sampled`, B)) entries; when W
    exceeds the set's size (a batch larger than `num_sampled` with repeated
    classes) the last entries are padding, marked in `valid` (their logits
    must be `PADDING_LOGIT`: `mask_padding`).

    With `blocks` = S > 1 the draw is made per block of K / S contiguous
    classes, as arcface_torch draws per GPU from the classes it holds: block
    s keeps its batch classes plus the largest scores of its own classes,
    max(`num_sampled` / S, its distinct batch classes) in all, in W / S =
    min(K / S, max(`num_sampled` / S, B)) entries. The scores are the same
    as with one block; the set is the blocks' sets one after the other, so
    the rows of block s are the entries [s W / S, (s + 1) W / S) and a
    kernel split along K over S devices (or a divisor of S) finds each
    device's sampled rows among its own (`gather_rows` of the classes
    reshaped to (S, W / S)).

    Args:
        labels: validated int32 (B,) class ids of the (global) batch.
        num_classes: K.
        num_sampled: the number of classes to keep (`num_sampled_classes`);
            a multiple of `blocks`.
        seed: integer scalar (int or tensor, e.g. a weight): the seed of the draws.
        step: integer scalar (int or tensor): which draw of that seed (the
            training step). The draw is a function of (seed, step) alone
            (`_backend.uniform_at`), so a run resumed at step t draws what
            the first run drew at step t.
        blocks: S, the number of blocks of classes drawn from separately; a
            divisor of K. Defaults to 1.

    Returns:
        (classes, sampled_labels, valid): int32 (W,) class ids (each block's
        batch classes first); int32 (B,) positions of `labels` in `classes`;
        a bool (W,) mask of the real entries, or None when there is no
        padding (W == `num_sampled`, always the case for a batch of at most
        `num_sampled` / S samples).
    """
    if num_classes % blocks or num_sampled % blocks:
        raise ValueError(
            f"The draw's blocks ({blocks}) must divide the classes ({num_classes}) and the number sampled "
            f"({num_sampled})."
        )
    block, per_block = num_classes // blocks, num_sampled // blocks
    batch = labels.shape[0]
    if batch is None:  # a TensorFlow graph of unknown batch size: the width is dynamic
        width = keras.ops.minimum(block, keras.ops.maximum(per_block, keras.ops.shape(labels)[0]))
        padded = True
    else:
        width = min(block, max(per_block, batch))
        padded = width > per_block
    counts = keras.ops.scatter(labels[:, None], keras.ops.ones_like(labels), (num_classes,))
    in_batch = counts > 0
    scores = _backend.uniform_at((num_classes,), seed, step)
    scores = keras.ops.where(in_batch, 2.0, scores)
    if blocks == 1:
        _, classes = keras.ops.top_k(scores, width, sorted=True)
        classes = keras.ops.cast(classes, "int32")
    else:
        _, local = keras.ops.top_k(keras.ops.reshape(scores, (blocks, block)), width, sorted=True)
        offsets = keras.ops.arange(blocks, dtype="int32")[:, None] * block
        classes = keras.ops.reshape(keras.ops.cast(local, "int32") + offsets, (-1,))
    positions = keras.ops.scatter(
        classes[:, None], keras.ops.arange(keras.ops.shape(classes)[0], dtype="int32"), (num_classes,)
    )
    sampled_labels = keras.ops.take(positions, labels)
    valid = None
    if padded:
        in_block = keras.ops.sum(keras.ops.reshape(keras.ops.cast(in_batch, "int32"), (blocks, block)), axis=1)
        kept = keras.ops.maximum(per_block, in_block)[:, None]  # (S, 1)
        entries = keras.ops.arange(keras.ops.shape(classes)[0] // blocks, dtype="int32")[None, :]
        valid = keras.ops.reshape(entries < kept, (-1,))
    return classes, sampled_labels, valid


def mask_padding(logits, valid):
    """`PADDING_LOGIT` in the padding columns of (B, W) logits (`valid` from `sample_classes`; None: none)."""
    if valid is None:
        return logits
    return keras.ops.where(valid[None, :], logits, keras.ops.cast(PADDING_LOGIT, logits.dtype))
