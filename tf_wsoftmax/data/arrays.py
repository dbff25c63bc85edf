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


class EpochWindows(keras.utils.PyDataset):
    """The epochs of a run as batches, in the order `epoch_order(N, seed, epoch)`, for `fit`.

    The batch order of every training input (arrays, face packs, face
    folders) and every backend. Epoch e's order is set by `set_epoch` (the
    runner calls it at each epoch's start, so the order follows Keras' epoch
    index, also from `initial_epoch` on); batch i of epoch e, its random
    augmentation included, depends on (seed, e, i) only, so a resumed run
    sees the batches an uninterrupted one sees, on every backend. `window`
    gives a part of one epoch (the rest of an interrupted epoch, or the last
    one of a run that stops inside an epoch). Subclasses implement `load`.

    Args:
        labels: (N,) integer class ids.
        batch_size: batch size.
        seed: the run's seed.
        drop_remainder: leave out the last, smaller batch of each epoch.
        epoch: the first epoch. Defaults to 0.
        start_batch: skip this epoch's first batches. Defaults to 0.
        stop_batch: end the epoch before this batch. Defaults to None (all).
        **kwargs: `keras.utils.PyDataset` arguments (workers, ...).
    """

    def __init__(self, labels, batch_size, seed, drop_remainder=False, epoch=0, start_batch=0, stop_batch=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.labels = np.asarray(labels).astype(np.int32)
        self.batch_size = batch_size
        self.seed = seed
        count = len(self.labels) // batch_size if drop_remainder else math.ceil(len(self.labels) / batch_size)
        if count < 1:
            raise ValueError(f"{len(self.labels)} examples are fewer than one batch of {batch_size}.")
        self.batches_per_epoch = count
        self._set_window(epoch, start_batch, stop_batch)

    def _set_window(self, epoch, start_batch, stop_batch):
        stop_batch = self.batches_per_epoch if stop_batch is None else stop_batch
        if not 0 <= start_batch < stop_batch <= self.batches_per_epoch:
            raise ValueError(
                f"Need 0 <= start_batch < stop_batch <= {self.batches_per_epoch}. Received: start_batch={start_batch}, "
                f"stop_batch={stop_batch}"
            )
        self.start_batch, self.stop_batch = start_batch, stop_batch
        self.epoch = None
        self.set_epoch(epoch)

    def set_epoch(self, epoch):
        """Makes the batches those of `epoch` (another epoch is whole: its window is reset)."""
        if epoch != self.epoch:
            if self.epoch is not None:
                self.start_batch, self.stop_batch = 0, self.batches_per_epoch
            self.epoch = epoch
            self._order = epoch_order(len(self.labels), self.seed, epoch)

    def window(self, epoch, start_batch, stop_batch):
        """A copy holding batches [start_batch, stop_batch) of `epoch`."""
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy._set_window(epoch, start_batch, stop_batch)
        return copy

    def __len__(self):
        return self.stop_batch - self.start_batch

    def load(self, picked, epoch, batch):
        """The model inputs of the examples `picked` (indices), batch `batch` of `epoch`. Implemented by subclasses."""
        raise NotImplementedError

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range [0, {len(self)})")
        batch = index + self.start_batch
        picked = self._order[batch * self.batch_size : (batch + 1) * self.batch_size]
        return self.load(picked, self.epoch, batch), self.labels[picked]


class EpochBatches(EpochWindows):
    """Shuffled, standardised (optionally augmented) batches of in-memory images, for `fit`.

    See `EpochWindows` for the order and `window`. The last batch may be smaller.

    Args:
        images: (N, H, W, C) array (uint8 pixels or floats).
        labels: (N,) integer class ids.
        batch_size: batch size.
        seed: the run's seed. Defaults to 0.
        mean, std: per-channel statistics (`channel_statistics`); None keeps
            the images as float32 without standardising. Defaults to None.
        augment: `flip_crop` each batch (seeded with (seed, epoch, batch)).
            Defaults to False.
        **kwargs: `EpochWindows` arguments (epoch, start_batch, stop_batch)
            and `keras.utils.PyDataset` arguments.
    """

    def __init__(self, images, labels, batch_size, seed=0, mean=None, std=None, augment=False, **kwargs):
        self.images, labels = _check_arrays(images, labels, batch_size)
        self.mean, self.std = _check_statistics(self.images, mean, std, augment)
        self.augment = augment
        super().__init__(labels, batch_size, seed, **kwargs)

    def load(self, picked, epoch, batch):
        images = self.images[picked]
        if self.augment:
            images = flip_crop(images, np.random.default_rng([self.seed, epoch, batch]))
        return _model_inputs(images, self.mean, self.std)


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

