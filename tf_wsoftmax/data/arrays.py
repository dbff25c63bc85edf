"""NumPy batches of in-memory images for Keras `fit` on every backend (no tf.data).

The same epoch order as the tf.data pipelines (`epoch_order`), so a run on
JAX sees the batches a TensorFlow run sees (augmentation aside: see
`flip_crop`).
"""

import math

import keras
import numpy as np


def channel_statistics(images):
    """Per-channel mean and std of uint8 or float images, in [0, 1] units.

    Args:
        images: array (N, H, W, C).

    Returns:
        (mean, std), float32 arrays of shape (C,).
    """
    scaled = images.astype(np.float64) / (255.0 if images.dtype == np.uint8 else 1.0)
    mean = scaled.mean(axis=(0, 1, 2))
    std = np.maximum(scaled.std(axis=(0, 1, 2)), 1e-6)
    return mean.astype("float32"), std.astype("float32")


def epoch_order(num_examples, seed, epoch):
    """The permutation of epoch `epoch`: seeded with (seed, epoch) and nothing else.

    Args:
        num_examples: N.
        seed: the run's seed.
        epoch: 0-based epoch index.

    Returns:
        int64 array (N,), a permutation of range(N).
    """
    return np.random.default_rng([seed, epoch]).permutation(num_examples)


def standardize_array(images, mean, std):
    """(images / 255 - mean) / std in float32 for uint8 images; float images skip the / 255.

    The NumPy twin of `tf_wsoftmax.data.make_normalizer`.

    Args:
        images: array (..., C).
        mean, std: per-channel statistics in [0, 1] units (`channel_statistics`).

    Returns:
        float32 array of the same shape.
    """
    scaled = images.astype(np.float32)
    if images.dtype == np.uint8:
        scaled /= np.float32(255.0)
    return (scaled - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def _model_inputs(images, mean, std):
    """`standardize_array` with the statistics, or the images as float32 without them."""
    return standardize_array(images, mean, std) if mean is not None else images.astype(np.float32)


def flip_crop(images, rng, padding=4):
    """Pad-and-crop plus horizontal flip of a batch (the CIFAR augmentation), in NumPy.

    The offsets and flips come from `rng`, not from TensorFlow's stateless
    ops, so augmented batches differ from the tf.data pipeline's (same
    distribution, other draws).

    Args:
        images: (B, H, W, C) array.
        rng: a `numpy.random.Generator`.
        padding: zero padding on each side. Defaults to 4.

    Returns:
        The augmented batch, same shape and dtype.
    """
    batch, height, width = images.shape[:3]
    padded = np.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    rows = rng.integers(0, 2 * padding + 1, size=batch)
    cols = rng.integers(0, 2 * padding + 1, size=batch)
    flips = rng.random(batch) < 0.5
    out = np.empty_like(images)
    for i in range(batch):
        crop = padded[i, rows[i] : rows[i] + height, cols[i] : cols[i] + width]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out


def _check_arrays(images, labels, batch_size):
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim < 2 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"Expected images (N, ...) and labels (N,); got shapes {images.shape} and {labels.shape}."
        )
    if len(labels) == 0:
        raise ValueError("No examples: images and labels are empty.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers; got dtype {labels.dtype}.")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size}")
    return images, labels.astype(np.int32)


def _check_statistics(images, mean, std, augment=False):
    """(mean, std) as float32 (C,) arrays, or (None, None); refuses half a pair, NaN, std <= 0, wrong C."""
    if augment and images.ndim != 4:
        raise ValueError(f"`augment` needs (N, H, W, C) images; got shape {images.shape}.")
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise ValueError("Give both `mean` and `std` (per-channel statistics), or neither.")
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    channels = images.shape[-1]
    if mean.shape != (channels,) or std.shape != (channels,):
        raise ValueError(
            f"`mean` and `std` must have shape ({channels},) (one per channel); got {mean.shape} and {std.shape}."
        )
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise ValueError(f"`mean` must be finite and `std` finite and > 0. Received: mean={mean}, std={std}")
    return mean, std


class EpochBatches(keras.utils.PyDataset):
    """One epoch of shuffled, standardised (optionally augmented) batches, for `fit`.

    Epoch e's order is `epoch_order(N, seed, e)`, the tf.data pipelines'
    order. The epoch is set by `set_epoch` (the `EpochSetter` callback of
    `tf_wsoftmax.training.fit_loop` calls it at each epoch's start, so the
    order follows Keras' epoch index, also from `initial_epoch` on); batch
    i of epoch e depends on (seed, e, i) only, so a resumed run sees the
    batches an uninterrupted one sees. The last batch may be smaller.

    Args:
        images: (N, H, W, C) array (uint8 pixels or floats).
        labels: (N,) integer class ids.
        batch_size: batch size.
        seed: the run's seed. Defaults to 0.
        mean, std: per-channel statistics (`channel_statistics`); None keeps
            the images as float32 without standardising. Defaults to None.
        augment: `flip_crop` each batch (seeded with (seed, epoch, batch)).
            Defaults to False.
        epoch: the first epoch. Defaults to 0.
        start_batch: skip this epoch's first batches (resuming mid-epoch:
            `len` is the number of batches left). Defaults to 0.
        **kwargs: `keras.utils.PyDataset` arguments (workers, ...).
    """

    def __init__(self, images, labels, batch_size, seed=0, mean=None, std=None, augment=False, epoch=0,
                 start_batch=0, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels = _check_arrays(images, labels, batch_size)
        self.batch_size = batch_size
        self.seed = seed
        self.mean, self.std = _check_statistics(self.images, mean, std, augment)
        self.augment = augment
        self.batches_per_epoch = math.ceil(len(self.labels) / batch_size)
        if not 0 <= start_batch < self.batches_per_epoch:
            raise ValueError(f"`start_batch` must be in [0, {self.batches_per_epoch}). Received: {start_batch}")
        self.start_batch = start_batch
        self.epoch = None
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        """Makes the batches those of `epoch` (a new epoch starts at its first batch)."""
        if epoch != self.epoch:
            if self.epoch is not None:
                self.start_batch = 0
            self.epoch = epoch
            self._order = epoch_order(len(self.labels), self.seed, epoch)

    def resumed_at(self, epoch, start_batch):
        """A copy at `epoch` that starts with batch `start_batch` (the rest of an interrupted epoch)."""
        return EpochBatches(
            self.images, self.labels, self.batch_size, seed=self.seed, mean=self.mean, std=self.std,
            augment=self.augment, epoch=epoch, start_batch=start_batch,
        )

    def __len__(self):
        return self.batches_per_epoch - self.start_batch

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        batch = index + self.start_batch
        picked = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]
        images = self.images[picked]
        if self.augment:
            images = flip_crop(images, np.random.default_rng([self.seed, self.epoch, batch]))
        return _model_inputs(images, self.mean, self.std), self.labels[picked]


class ArrayBatches(keras.utils.PyDataset):
    """Unshuffled (images, labels) batches for evaluation, standardised as in training.

    Args:
        images, labels: arrays (N, ...) and (N,).
        batch_size: Defaults to 500.
        mean, std: per-channel statistics, or None (float32 images as given).
        **kwargs: `keras.utils.PyDataset` arguments.
    """

    def __init__(self, images, labels, batch_size=500, mean=None, std=None, **kwargs):
        super().__init__(**kwargs)
        self.images, self.labels = _check_arrays(images, labels, batch_size)
        self.batch_size = batch_size
        self.mean, self.std = _check_statistics(self.images, mean, std)

    def __len__(self):
        return math.ceil(len(self.labels) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        window = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return _model_inputs(self.images[window], self.mean, self.std), self.labels[window]

