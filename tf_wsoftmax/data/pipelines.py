"""tf.data pipelines over in-memory arrays, reproducible per epoch (for exact resume)."""

import numpy as np
import tensorflow as tf

from tf_wsoftmax.data.arrays import channel_statistics  # noqa: F401  (re-exported)
from tf_wsoftmax.data.arrays import epoch_order


def make_normalizer(mean, std, uint8_input=True):
    """Returns `images -> (images / 255 - mean) / std` as float32 (a tf function)."""
    mean = tf.constant(mean, tf.float32)
    std = tf.constant(std, tf.float32)

    def normalize(images):
        images = tf.cast(images, tf.float32)
        if uint8_input:
            images = images / 255.0
        return (images - mean) / std

    return normalize


def augment_flip_crop(image, seed, padding=4):
    """Standard CIFAR augmentation with stateless randomness: pad, random crop, random flip.

    Args:
        image: (H, W, C) tensor.
        seed: int32/int64 tensor of shape (2,), the stateless seed.
        padding: zero padding on each side before cropping. Defaults to 4.

    Returns:
        The augmented (H, W, C) image.
    """
    height, width = image.shape[0], image.shape[1]
    padded = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    crop_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    cropped = tf.image.stateless_random_crop(padded, tf.shape(image), seed=crop_seed)
    cropped = tf.ensure_shape(cropped, [height, width, image.shape[2]])
    return tf.image.stateless_random_flip_left_right(cropped, seed=seed)


def epoch_datasets(images, labels, batch_size, seed=0, normalize=None, augment=False):
    """Returns `epoch -> Dataset`: a reproducible shuffle (and augmentation) per epoch.

    Each epoch's order is `epoch_order(N, seed, epoch)`: a NumPy permutation
    seeded with (seed, epoch) and nothing else (not TF's global seed); augmentation uses stateless random
    ops seeded with (seed, epoch, position), so a resumed run sees the same
    batches as an uninterrupted one. Order: permute -> from_tensor_slices ->
    map(augment, normalize) -> batch -> prefetch.

    Args:
        images: array (N, ...).
        labels: int array (N,).
        batch_size: batch size.
        seed: base seed. Defaults to 0.
        normalize: optional function applied to each image (e.g.
            `make_normalizer(...)`). Defaults to None (images as given).
        augment: pad-and-crop plus horizontal flip (images must be
            (H, W, C)). Defaults to False.

    Returns:
        A callable taking the epoch index and returning a batched dataset.
    """
    images, labels = np.asarray(images), np.asarray(labels)

    def make(epoch):
        order = epoch_order(len(labels), seed, epoch)
        dataset = tf.data.Dataset.from_tensor_slices((images[order], labels[order]))
        if augment or normalize is not None:

            def transform(index, example):
                image, label = example
                if augment:
                    image = augment_flip_crop(image, tf.stack([tf.cast(seed * 100_003 + epoch, tf.int64), index]))
                if normalize is not None:
                    image = normalize(image)
                return image, label

            dataset = dataset.enumerate().map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return make


def eval_dataset(images, labels, batch_size=256, normalize=None):
    """Batched, unshuffled dataset for evaluation."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if normalize is not None:
        dataset = dataset.map(lambda x, y: (normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
