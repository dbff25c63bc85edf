"""Verification on InsightFace's `.bin` sets: the metrics of the LFW command for any pair set."""

import numpy as np

from tf_wsoftmax.eval.lfw import cosine_scores
from tf_wsoftmax.eval.lfw import verification_metrics


def embed_dataset(embed, dataset, batch_size=64, flip_fusion=True):
    """Embeds a dataset of standardised images, batch by batch.

    Args:
        embed: function from a float32 batch (B, S, S, 3) to (B, d) embeddings.
        dataset: `tf.data.Dataset` of single standardised images.
        batch_size: embedding batch size.
        flip_fusion: add the embedding of the mirrored image (as InsightFace's
            and our LFW evaluation do).

    Returns:
        (N, d) float array.
    """
    import tensorflow as tf

    embeddings = []
    for batch in dataset.batch(batch_size):
        vectors = np.asarray(embed(batch))
        if flip_fusion:
            vectors = vectors + np.asarray(embed(tf.reverse(batch, axis=[2])))
        embeddings.append(vectors)
    return np.concatenate(embeddings) if embeddings else np.zeros((0, 0))


def contiguous_folds(num_pairs, folds=10):
    """InsightFace's fold of each pair: `folds` contiguous blocks (sklearn KFold without shuffling)."""
    sizes = np.full(folds, num_pairs // folds) + (np.arange(folds) < num_pairs % folds)
    return np.repeat(np.arange(folds), sizes)


def evaluate_pairs(embed, images, issame, image_size, batch_size=64, flip_fusion=True, far_target=1e-3, folds=10):
    """10-fold verification metrics of image pairs (images 2i and 2i + 1 form pair i).

    Args:
        embed: as `embed_dataset`.
        images: uint8 (2N, H, W, 3), resized here to the model's side `image_size`.
        issame: bool (N,).
        image_size: the model's input side.
        batch_size, flip_fusion, far_target: see `embed_dataset` / `verification_metrics`.
        folds: number of contiguous folds. Defaults to 10.

    Returns:
        `verification_metrics` plus "pairs".
    """
    import tensorflow as tf

    from tf_wsoftmax.data.face_folders import standardize_face

    def prepare(image):
        resized = tf.image.resize(image, (image_size, image_size), antialias=True)
        return standardize_face(tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8))

    dataset = tf.data.Dataset.from_tensor_slices(images).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    table = embed_dataset(embed, dataset, batch_size, flip_fusion)
    scores = cosine_scores(table[0::2], table[1::2])
    metrics = verification_metrics(scores, issame, contiguous_folds(len(issame), folds), far_target)
    return dict(metrics, pairs=len(issame))


def set_names(paths):
    """A unique display name per path: the file name without extension, or the path itself where
    two paths share a file name (d1/lfw.bin and d2/lfw.bin are two sets, not one).

    Raises:
        ValueError: the same path given twice.
    """
    import collections
    import os

    paths = [os.fspath(p) for p in paths]
    repeated = [p for p, n in collections.Counter(paths).items() if n > 1]
    if repeated:
        raise ValueError(f"verification set given more than once: {', '.join(repeated)}")
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    counts = collections.Counter(stems)
    return [stem if counts[stem] == 1 else path for stem, path in zip(stems, paths)]


def evaluate_bins(embed, paths, image_size, batch_size=64, flip_fusion=True, far_target=1e-3):
    """`evaluate_pairs` for each `.bin` file; returns {set name: metrics} (names from `set_names`)."""
    from tf_wsoftmax.data.verification_bin import load_verification_bin

    results = {}
    for name, path in zip(set_names(paths), paths):
        images, issame = load_verification_bin(path)
        results[name] = evaluate_pairs(embed, images, issame, image_size, batch_size, flip_fusion, far_target)
    return results


def markdown(results, far_target=1e-3):
    """One table row per set: accuracy +- std, VAL@FAR, AUC, EER, pairs."""
    lines = [
        f"| set | accuracy % | VAL@FAR={far_target:g} % | AUC | EER | pairs |",
        "|---|---|---|---|---|---|",
    ]
    for name, m in results.items():
        lines.append(
            f"| {name} | {100 * m['accuracy_mean']:.2f} +- {100 * m['accuracy_std']:.2f} | "
            f"{100 * m['val_mean']:.2f} +- {100 * m['val_std']:.2f} | {m['auc']:.4f} | {m['eer']:.4f} | {m['pairs']} |"
        )
    return "\n".join(lines)
