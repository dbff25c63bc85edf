"""`EpochBatches` and `fit_resumable`: the epoch order, the checkpoints and an exact mid-epoch resume."""

import os

import keras
import numpy as np
import pytest

from tf_wsoftmax.data import ArrayBatches
from tf_wsoftmax.data import EpochBatches
from tf_wsoftmax.data.arrays import epoch_order
from tf_wsoftmax.data.arrays import standardize_array
from tf_wsoftmax.losses import build_loss
from tf_wsoftmax.training import MarginClassifier
from tf_wsoftmax.training import fit_resumable
from tf_wsoftmax.training.fit_loop import StepCheckpoint
from tf_wsoftmax.training.fit_loop import restore_checkpoint


def pixel_problem(n=60, classes=3, seed=0):
    """uint8 'images' (n, 2, 2, 1) whose class decides their brightness."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % classes).astype(np.int32)
    images = np.clip(60 * labels[:, None, None, None] + rng.integers(0, 40, (n, 2, 2, 1)), 0, 255).astype(np.uint8)
    return images, labels


def test_epoch_batches_follow_the_seeded_epoch_order_and_standardise():
    images, labels = pixel_problem(n=23)
    batches = EpochBatches(images, labels, batch_size=5, seed=7, mean=np.float32([0.3]), std=np.float32([0.2]))
    assert len(batches) == 5  # ceil(23 / 5); the last batch has 3
    for epoch in (0, 3):
        batches.set_epoch(epoch)
        order = epoch_order(23, 7, epoch)
        seen = np.concatenate([batches[i][1] for i in range(len(batches))])
        np.testing.assert_array_equal(seen, labels[order])
        x, _ = batches[4]
        assert x.shape == (3, 2, 2, 1) and x.dtype == np.float32
        expected = (images[order[20:]].astype(np.float64) / 255.0 - 0.3) / 0.2
        np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-6)
    resumed = batches.resumed_at(3, start_batch=2)
    assert len(resumed) == 3
    np.testing.assert_array_equal(resumed[0][1], batches[2][1])
    with pytest.raises(IndexError):
        batches[5]
    with pytest.raises(ValueError, match="start_batch"):
        EpochBatches(images, labels, 5, start_batch=5)
    with pytest.raises(ValueError, match="labels must be integers"):
        EpochBatches(images, labels.astype("float32"), 5)
    with pytest.raises(ValueError, match="batch_size"):
        EpochBatches(images, labels, 0)
    with pytest.raises(ValueError, match="shapes"):
        EpochBatches(images, labels[:-1], 5)
    with pytest.raises(ValueError, match="both"):
        EpochBatches(images, labels, 5, mean=np.float32([0.5]))
    with pytest.raises(ValueError, match="> 0"):
        EpochBatches(images, labels, 5, mean=np.float32([0.5]), std=np.float32([0.0]))
    with pytest.raises(ValueError, match="one per channel"):
        ArrayBatches(images, labels, 5, mean=np.float32([0.5, 0.5]), std=np.float32([1.0, 1.0]))
    with pytest.raises(ValueError, match="augment"):
        EpochBatches(images.reshape(23, 4), labels, 5, augment=True)


def test_augmentation_is_seeded_by_seed_epoch_and_batch():
    images = np.random.default_rng(0).integers(0, 255, (8, 6, 6, 3)).astype(np.uint8)
    labels = np.zeros(8, np.int32)
    a = EpochBatches(images, labels, 4, seed=1, augment=True)
    b = EpochBatches(images, labels, 4, seed=1, augment=True)
    np.testing.assert_array_equal(a[1][0], b[1][0])
    a.set_epoch(1)
    assert not np.array_equal(a[1][0], b[1][0])
    assert a[1][0].shape == (4, 6, 6, 3)


class RecordingBatches(EpochBatches):
    """Logs (epoch, batch) of every batch Keras reads."""

    def __init__(self, *args, log, **kwargs):
        super().__init__(*args, **kwargs)
        self.log = log

    def __getitem__(self, index):
        self.log.append((self.epoch, index + self.start_batch))
        return super().__getitem__(index)

    def resumed_at(self, epoch, start_batch):
        return RecordingBatches(self.images, self.labels, self.batch_size, seed=self.seed, mean=self.mean,
                                std=self.std, epoch=epoch, start_batch=start_batch, log=self.log)


class StopAfter(keras.callbacks.Callback):
    """Simulates a kill: raises after `steps` training steps."""

    def __init__(self, steps):
        super().__init__()
        self.steps, self.seen = steps, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.steps:
            raise KeyboardInterrupt


def make_model(seed=0):
    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    head, _ = build_loss("wsoftmax", 3, alpha=1.0, alpha_warmup_steps=7)
    model = MarginClassifier(backbone, head)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, 5, 0.5, staircase=True)
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), metrics=["accuracy"])
    return model


def trained(log, epochs, per_epoch=8):
    """The reads of each epoch's last pass over its batches (drops a shape-probing read before it)."""
    return [entry for e in range(epochs) for entry in [x for x in log if x[0] == e][-per_epoch:] if entry[0] == e]


class StopTraining(keras.callbacks.Callback):
    """Stops training (as EarlyStopping does) at the end of the first epoch it sees."""

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = True


def test_a_callback_stop_holds_across_a_mid_epoch_resume(tmp_path):
    images, labels = pixel_problem()
    path = os.path.join(tmp_path, "fit.weights.h5")
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(make_model(), EpochBatches(images, labels, 8), epochs=4, checkpoint_path=path,
                      checkpoint_every=3, callbacks=[StopAfter(4)], verbose=0)
    result = fit_resumable(make_model(), EpochBatches(images, labels, 8), epochs=4, checkpoint_path=path,
                           checkpoint_every=3, callbacks=[StopTraining()], verbose=0)
    assert result["resumed_from_step"] == 3 and result["step"] == 8  # the rest of epoch 0, then stopped


def test_a_resumed_run_trains_on_the_batches_of_an_uninterrupted_one(tmp_path):
    images, labels = pixel_problem()
    mean, std = np.float32([0.4]), np.float32([0.25])
    log = []
    whole = make_model()
    reference = fit_resumable(whole, RecordingBatches(images, labels, 8, seed=3, mean=mean, std=std, log=log),
                              epochs=3, verbose=0)
    uninterrupted_log = list(log)
    assert reference["step"] == 3 * 8 and reference["resumed_from_step"] is None
    # Keras' epochs and the batches' epochs agree: epoch e trains on batches (e, 0..7) in order (Keras
    # may read a batch before the first epoch to learn the shapes).
    assert trained(uninterrupted_log, 3) == [(e, b) for e in range(3) for b in range(8)]

    path = os.path.join(tmp_path, "ckpt", "fit.weights.h5")
    log.clear()
    interrupted = make_model(seed=0)  # the same start as `whole`
    with pytest.raises(KeyboardInterrupt):
        fit_resumable(interrupted, RecordingBatches(images, labels, 8, seed=3, mean=mean, std=std, log=log),
                      epochs=3, checkpoint_path=str(path), checkpoint_every=5, callbacks=[StopAfter(13)], verbose=0)
    resumed_model = make_model(seed=2)  # other initial weights: the checkpoint must win
    log.clear()
    records = []
    resumed = fit_resumable(resumed_model, RecordingBatches(images, labels, 8, seed=3, mean=mean, std=std, log=log),
                            epochs=3, checkpoint_path=str(path), checkpoint_every=5, on_epoch=records.append,
                            verbose=0)
    assert resumed["resumed_from_step"] == 10  # the last checkpoint before the kill at step 13
    assert trained(log, 3)[-14:] == [(1, b) for b in range(2, 8)] + [(2, b) for b in range(8)]
    assert [r["epoch"] for r in records] == [2, 3] and records[-1]["step"] == 24
    assert set(records[0]) >= {"loss", "accuracy", "epoch", "step"}
    for expected, got in zip(whole.weights, resumed_model.weights):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected),
                                   rtol=1e-5, atol=1e-6, err_msg=expected.path)
    assert int(keras.ops.convert_to_numpy(resumed_model.head.iterations)) == 24
    assert not os.path.exists(str(path).replace(".weights.h5", ".tmp.weights.h5"))


def test_a_non_finite_loss_is_an_error_before_it_is_checkpointed(tmp_path):
    images, labels = pixel_problem()
    model = make_model()
    model.compile(optimizer=keras.optimizers.SGD(1e30), metrics=["accuracy"])
    path = os.path.join(tmp_path, "fit.weights.h5")
    with pytest.raises(FloatingPointError, match="Non-finite"):
        fit_resumable(model, EpochBatches(images * 0 + 255, labels, 8), epochs=4, checkpoint_path=path,
                      checkpoint_every=1, verbose=0)
    # Whatever was saved before the error is a finite state a restart can resume from.
    if os.path.exists(path):
        restored = make_model()
        restore_checkpoint(restored, path)
        for variable in restored.weights:
            value = keras.ops.convert_to_numpy(variable.value)
            assert value.dtype.kind != "f" or np.isfinite(value).all(), variable.path
    with pytest.raises(ValueError, match="must end with"):
        StepCheckpoint(os.path.join(tmp_path, "x.h5"))


def test_array_batches_cover_every_example_once_in_order():
    images, labels = pixel_problem(n=11)
    batches = ArrayBatches(images, labels, batch_size=4, mean=np.float32([0.5]), std=np.float32([0.5]))
    assert len(batches) == 3
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
    np.testing.assert_allclose(np.concatenate([x for x, _ in batches]),
                               standardize_array(images, np.float32([0.5]), np.float32([0.5])))
