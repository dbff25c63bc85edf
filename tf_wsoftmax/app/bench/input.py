"""Input throughput of a RecordIO pack against the train step it feeds (`tf-wsoftmax bench input`)."""

import itertools
import time

import keras
import numpy as np
import tensorflow as tf

from tf_wsoftmax.data.face_batches import pack_face_batches
from tf_wsoftmax.data.images import decode_image
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.models import build_face_embedder
from tf_wsoftmax.training import TrainStep


def images_per_second(dataset, max_images, batched):
    """Reads up to `max_images` images from a dataset (after one warm-up element); returns images/s."""
    iterator = iter(dataset)
    next(iterator)  # warm-up: the pipeline starts its workers
    count = 0
    started = time.perf_counter()
    for element in iterator:
        count += int(element[1].shape[0]) if batched else 1
        if count >= max_images:
            break
    elapsed = time.perf_counter() - started
    return count / elapsed if elapsed > 0 else float("nan")


def train_step_images_per_second(backbone_name, image_size, batch, classes, repeats=5):
    """Images/s of the face `TrainStep` (W-Softmax head) on in-memory batches: what the input must keep up with."""
    keras.utils.set_random_seed(0)
    backbone = build_face_embedder(128, image_size, backbone_name)
    head, _ = build_loss("wsoftmax", classes)
    step = TrainStep(backbone, head, keras.optimizers.SGD(0.01, momentum=0.9))
    rng = np.random.default_rng(0)
    images = tf.constant(rng.normal(size=(batch, image_size, image_size, 3)), tf.float32)
    labels = tf.constant(rng.integers(0, classes, size=batch), tf.int32)
    float(step(images, labels)["loss"])
    started = time.perf_counter()
    for _ in range(repeats):
        float(step(images, labels)["loss"])
    return batch * repeats / (time.perf_counter() - started)


def bench_input(rec_path, batch=128, image_size=112, backbone="mobilenet_v3_small", max_images=2000):
    """Decoded images/s of the pack reader and of the training input, next to the train step's.

    Returns:
        A record: pack, images, decoded_images_per_s (read and decode, one
        thread), pipeline_images_per_s (the training input, `FaceBatches` in
        one thread: shuffle, decode, resize, flip, standardise, batch),
        train_step_images_per_s, and whether the input keeps the step fed.
    """
    batches, identities = pack_face_batches(rec_path, batch, image_size, seed=0)
    decoded = images_per_second(
        ((decode_image(batches.read(i % len(batches.labels)), "bench"), None) for i in itertools.count()),
        max_images, batched=False,
    )
    pipeline = images_per_second(
        (batches[i % len(batches)] for i in itertools.count()), max_images, batched=True
    )
    step = train_step_images_per_second(backbone, image_size, batch, identities)
    return {
        "pack": rec_path,
        "images": int(len(batches.labels)),
        "identities": identities,
        "batch": batch,
        "image_size": image_size,
        "backbone": backbone,
        "decoded_images_per_s": decoded,
        "pipeline_images_per_s": pipeline,
        "train_step_images_per_s": step,
        "keeps_step_fed": pipeline >= step,
    }


def markdown(record):
    """A one-row Markdown table of a `bench_input` record."""
    return "\n".join([
        "| pack | images | decoded images/s | training pipeline images/s | train step images/s | keeps the step fed |",
        "|---|---|---|---|---|---|",
        f"| {record['pack']} | {record['images']} | {record['decoded_images_per_s']:.0f} | "
        f"{record['pipeline_images_per_s']:.0f} | {record['train_step_images_per_s']:.0f} "
        f"({record['backbone']}, {record['image_size']}px, B={record['batch']}) | {record['keeps_step_fed']} |",
    ])
