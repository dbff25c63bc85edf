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
    classes of the batch) classes. They are found in O(K) work, a dozen
    passes of comparisons over the K scores (`_largest_keys`), not by a
    top-k (O(K log W)); the set is top-k's, listed in class order. (A
    TensorFlow graph traced for labels of unknown batch size keeps the
    top-k: the same set, listed by decreasing score, the batch's classes
    first.) A compiled step needs a static width, so
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
        (classes, sampled_labels, valid): int32 (W,) class ids (per block:
        the real entries in class order, then the padding; by decreasing
        score for an unknown batch size); int32 (B,) positions of `labels` in `classes`;
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
    counts = keras.ops.scatter(labels[:, None], keras.ops.ones_like(labels), (num_classes,))
    in_batch = counts > 0
    scores = _backend.uniform_at((num_classes,), seed, step)
    batch_per_block = keras.ops.sum(keras.ops.reshape(keras.ops.cast(in_batch, "int32"), (blocks, block)), axis=1)
    kept = keras.ops.maximum(per_block, batch_per_block)  # (S,) real entries per block
    if batch is None:  # a TensorFlow graph of unknown batch size: a dynamic width, drawn by top-k
        width = keras.ops.minimum(block, keras.ops.maximum(per_block, keras.ops.shape(labels)[0]))
        _, local = keras.ops.top_k(keras.ops.reshape(keras.ops.where(in_batch, 2.0, scores), (blocks, block)), width)
        padded = True
    else:
        width = min(block, max(per_block, batch))
        padded = width > per_block
        keys = keras.ops.where(in_batch, BATCH_KEY, keras.ops.cast(scores * SCORE_SCALE, "int32"))
        local = _largest_in_order(keras.ops.reshape(keys, (blocks, block)), kept, width, padded)
    offsets = keras.ops.arange(blocks, dtype="int32")[:, None] * block
    classes = keras.ops.reshape(keras.ops.cast(local, "int32") + offsets, (-1,))
    positions = keras.ops.scatter(
        classes[:, None], keras.ops.arange(keras.ops.shape(classes)[0], dtype="int32"), (num_classes,)
    )
    sampled_labels = keras.ops.take(positions, labels)
    valid = None
    if padded:
        entries = keras.ops.arange(keras.ops.shape(classes)[0] // blocks, dtype="int32")[None, :]
        valid = keras.ops.reshape(entries < kept[:, None], (-1,))
    return classes, sampled_labels, valid


# The draw's integer keys: a float32 uniform score in [0, 1) is a multiple of 2^-23 (both backends
# draw 23 random mantissa bits), so score * 2^23 is an exact integer in [0, 2^23); the batch's
# classes get 2^23, above every other key (Partial FC's score 2).
SCORE_SCALE = 2.0**23
BATCH_KEY = 2**23
_KEY_BITS = 24
_BITS_PER_PASS = 2


def _largest_keys(keys, need):
    """Per row, the `need` largest keys (ties: the lower index), in O(n) work.

    The need-th largest key T is found bit by bit from the top, two bits a
    pass: a pass counts, for the three candidates T + {1, 2, 3} x 2^b, the
    keys at or above each (one read of the keys), and keeps the largest
    candidate with at least `need` of them. 12 passes for 24-bit keys,
    whatever n and `need`; top-k costs O(n log need) and was 5 to 12 times
    slower at n = 10^7 on a CPU (experiments/bench_draw.py). The set equals
    `top_k`'s (tested).

    Args:
        keys: int32 (S, n) in [0, 2^24).
        need: int32 (S,), each in [0, n].

    Returns:
        bool (S, n) with need[s] true entries in row s.
    """
    threshold = keras.ops.zeros_like(need)
    bit = _KEY_BITS
    while bit > 0:
        bit -= _BITS_PER_PASS
        steps = keras.ops.convert_to_tensor([j << bit for j in range(1, 2**_BITS_PER_PASS)], "int32")
        candidates = threshold[:, None] + steps[None, :]  # (S, 3)
        at_or_above = keras.ops.sum(keras.ops.cast(keys[:, :, None] >= candidates[:, None, :], "int32"), axis=1)
        enough = at_or_above >= need[:, None]  # the candidates' counts fall as they rise
        threshold = keras.ops.max(keras.ops.where(enough, candidates, threshold[:, None]), axis=1)
    above = keys > threshold[:, None]
    short = need - keras.ops.sum(keras.ops.cast(above, "int32"), axis=1)
    tie = keys == threshold[:, None]
    return above | (tie & (keras.ops.cumsum(keras.ops.cast(tie, "int32"), axis=1) <= short[:, None]))


def _largest_in_order(keys, kept, width, padded):
    """(S, width) indices per row: the `kept` largest keys, then (with padding) the next ones, each in index order.

    Args:
        keys: int32 (S, n) keys (`BATCH_KEY` for the batch's classes).
        kept: int32 (S,) real entries per row.
        width: static entries per row (>= kept).
        padded: whether `width` may exceed `kept` (else they are equal).

    Returns:
        int32 (S, width) indices into the rows of `keys`, distinct per row.
    """
    rows, n = keys.shape
    real = _largest_keys(keys, kept)
    position = keras.ops.cumsum(keras.ops.cast(real, "int32"), axis=1) - 1
    slot = keras.ops.where(real, position, width)  # width: nowhere (the column dropped below)
    if padded:
        padding = _largest_keys(keys, keras.ops.full_like(kept, width)) & ~real
        after = kept[:, None] + keras.ops.cumsum(keras.ops.cast(padding, "int32"), axis=1) - 1
        slot = keras.ops.where(padding, after, slot)
    row = keras.ops.broadcast_to(keras.ops.arange(rows, dtype="int32")[:, None], (rows, n))
    index = keras.ops.stack([keras.ops.reshape(row, (-1,)), keras.ops.reshape(slot, (-1,))], axis=1)
    column = keras.ops.reshape(keras.ops.broadcast_to(keras.ops.arange(n, dtype="int32")[None, :], (rows, n)), (-1,))
    return keras.ops.scatter(index, column, (rows, width + 1))[:, :width]


def mask_padding(logits, valid):
    """`PADDING_LOGIT` in the padding columns of (B, W) logits (`valid` from `sample_classes`; None: none)."""
    if valid is None:
        return logits
    return keras.ops.where(valid[None, :], logits, keras.ops.cast(PADDING_LOGIT, logits.dtype))
