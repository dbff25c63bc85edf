"""scikit-learn's bundled UCI handwritten digits: the embedded offline dataset."""

import numpy as np
import tensorflow as tf


def load_digits_split(test_fraction=0.2, seed=0):
    """Loads the 1,797 8x8 digit images with a stratified train/test split.

    Args:
        test_fraction: share of each class held out for testing. Defaults to 0.2.
        seed: split seed. Defaults to 0.

    Returns:
        ((x_train, y_train), (x_test, y_test)): float32 images (N, 8, 8, 1)
        scaled to [0, 1] and int32 labels in [0, 10).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return (x_train, y_train), (x_test, y_test)


def epoch_datasets(images, labels, batch_size, seed=0):
    """Returns `epoch -> Dataset`: a reproducible shuffle per epoch.

    Each epoch's order is a NumPy permutation seeded with (seed, epoch) and
    nothing else (not TF's global seed), so a resumed run sees the same
    batches as an uninterrupted one. Order: permute -> from_tensor_slices ->
    batch -> prefetch.

    Args:
        images: array (N, ...).
        labels: int array (N,).
        batch_size: batch size.
        seed: base seed.

    Returns:
        A callable taking the epoch index and returning a batched dataset.
    """
    images, labels = np.asarray(images), np.asarray(labels)

    def make(epoch):
        order = np.random.default_rng([seed, epoch]).permutation(len(labels))
        dataset = tf.data.Dataset.from_tensor_slices((images[order], labels[order]))
        return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return make


def eval_dataset(images, labels, batch_size=256):
    """Batched, unshuffled dataset for evaluation."""
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)
