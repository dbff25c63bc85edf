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
from tf_wsoftmax.training import CheckpointError
from tf_wsoftmax.training import RunFolder
from tf_wsoftmax.training import RunFolderError
from tf_wsoftmax.training import StepHook
from tf_wsoftmax.training import fit_run
from tf_wsoftmax.training.checkpoint import read_state
from tf_wsoftmax.training.checkpoint import run_variables


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
    window = batches.window(3, 2, 4)
    assert len(window) == 2
    np.testing.assert_array_equal(window[0][1], batches[2][1])
    np.testing.assert_array_equal(window[1][1], batches[3][1])
    window.set_epoch(4)  # the next epoch is whole again
    assert len(window) == 5
    with pytest.raises(IndexError):
        batches[5]
    with pytest.raises(ValueError, match="start_batch"):
        EpochBatches(images, labels, 5, start_batch=5)
    with pytest.raises(ValueError, match="stop_batch"):
        batches.window(0, 2, 2)
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
    """Logs (epoch, batch) of every batch Keras reads (windows share the log)."""

    def __init__(self, *args, log, **kwargs):
        super().__init__(*args, **kwargs)
        self.log = log

    def __getitem__(self, index):
        self.log.append((self.epoch, index + self.start_batch))
        return super().__getitem__(index)


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


IDENTITY = {"problem": "pixels", "epochs": 3}


def fit_in(folder_path, model, batches, epochs=3, **kwargs):
    with RunFolder(str(folder_path)) as folder:
        folder.claim(IDENTITY, resumable=("epochs",))
        return fit_run(model, batches, folder, epochs, IDENTITY, resumable=("epochs",), verbose=0, **kwargs)


def arrays(model):
    return [keras.ops.convert_to_numpy(v) for v in run_variables(model)]


def test_a_resumed_run_trains_on_the_batches_of_an_uninterrupted_one_and_ends_alike(tmp_path):
    """Killed at step 13 (checkpoint at 10), resumed into a model of other initial weights: every
    weight, optimizer slot, schedule counter and metric sum equals the uninterrupted run's, bit for
    bit, and so does the history (the interrupted epoch's running metrics come back too)."""
    images, labels = pixel_problem()
    mean, std = np.float32([0.4]), np.float32([0.25])
    log = []
    whole = make_model()
    reference = fit_in(tmp_path / "whole", whole, RecordingBatches(images, labels, 8, seed=3, mean=mean, std=std, log=log))
    assert reference["step"] == 3 * 8 and reference["resumed_from_step"] is None
    # Keras' epochs and the batches' epochs agree: epoch e trains on batches (e, 0..7) in order (Keras
    # may read a batch before the first epoch to learn the shapes).
    assert trained(log, 3) == [(e, b) for e in range(3) for b in range(8)]

    log.clear()
    with pytest.raises(KeyboardInterrupt):
        fit_in(tmp_path / "killed", make_model(), RecordingBatches(images, labels, 8, seed=3, mean=mean, std=std, log=log),
               checkpoint_every=5, callbacks=[StopAfter(13)])
    assert read_state(str(tmp_path / "killed" / "checkpoint.zip"))["step"] == 10
    resumed_model = make_model(seed=2)  # other initial weights: the checkpoint must win
    log.clear()
    records = []
    resumed = fit_in(tmp_path / "killed", resumed_model,
                     RecordingBatches(images, labels, 8, seed=3, mean=mean, std=std, log=log),
                     checkpoint_every=5, on_epoch=records.append)
    assert resumed["resumed_from_step"] == 10  # the last checkpoint before the kill at step 13
    assert trained(log, 3)[-14:] == [(1, b) for b in range(2, 8)] + [(2, b) for b in range(8)]
    assert [r["epoch"] for r in records] == [2, 3] and records[-1]["step"] == 24
    assert resumed["history"] == reference["history"]  # epoch 2's mean covers all its batches
    for variable, expected, got in zip(run_variables(whole), arrays(whole), arrays(resumed_model)):
        np.testing.assert_array_equal(got, expected, err_msg=variable.path)
    assert int(keras.ops.convert_to_numpy(resumed_model.head.iterations)) == 24
    with open(tmp_path / "killed" / "history.jsonl") as f, open(tmp_path / "whole" / "history.jsonl") as g:
        assert f.read() == g.read()
    assert not [name for name in os.listdir(tmp_path / "killed") if ".partial-" in name]


def test_more_epochs_extend_a_run_and_fewer_than_trained_are_refused(tmp_path):
    images, labels = pixel_problem()
    first = fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=2)
    assert first["step"] == 16
    more = fit_in(tmp_path / "run", make_model(seed=5), EpochBatches(images, labels, 8), epochs=3)
    assert more["resumed_from_step"] == 16 and more["step"] == 24 and [r["epoch"] for r in more["history"]] == [1, 2, 3]
    with pytest.raises(RunFolderError, match="has trained 24 steps.*at least 3 epochs"):
        fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=2)


def test_a_run_stops_inside_an_epoch_at_max_steps_and_hooks_are_kept_with_the_weights(tmp_path):
    images, labels = pixel_problem()
    calls = []
    hook = StepHook("probe", 4, lambda step: calls.append(step) or {"value": float(step)})
    result = fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=3, max_steps=11,
                    hooks=[hook])
    assert result["step"] == 11 and calls == [4, 8]
    assert result["hooks"]["probe"] == [{"value": 4.0, "step": 4}, {"value": 8.0, "step": 8}]
    assert read_state(str(tmp_path / "run" / "checkpoint.zip"))["hooks"] == result["hooks"]
    again = fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=3, max_steps=11, hooks=[hook])
    assert calls == [4, 8] and again["step"] == 11  # a finished run trains nothing and runs no hook again
    with pytest.raises(ValueError, match="every"):
        StepHook("probe", 0, print)


def test_a_non_finite_loss_is_an_error_before_it_is_checkpointed(tmp_path):
    images, labels = pixel_problem()
    model = make_model()
    model.compile(optimizer=keras.optimizers.SGD(1e30), metrics=["accuracy"])
    with pytest.raises(FloatingPointError, match="Non-finite"):
        fit_in(tmp_path / "run", model, EpochBatches(images * 0 + 255, labels, 8), epochs=4, checkpoint_every=1)
    # Whatever was saved before the error is a finite state a restart can resume from.
    path = tmp_path / "run" / "checkpoint.zip"
    if path.exists():
        state = read_state(str(path))
        assert all(np.isfinite(value) for record in state["history"] for key, value in record.items())


def damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncated":
        data = data[: len(data) // 2]
    elif how == "flipped":
        middle = len(data) // 2
        data[middle : middle + 8] = bytes(b ^ 0xFF for b in data[middle : middle + 8])
    elif how == "foreign":
        data = b"PK\x05\x06" + bytes(18)  # an empty ZIP archive
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["truncated", "flipped", "foreign"])
def test_a_damaged_checkpoint_is_an_error_naming_the_file(tmp_path, how):
    images, labels = pixel_problem()
    fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=1)
    path = tmp_path / "run" / "checkpoint.zip"
    damage(path, how)
    with pytest.raises(CheckpointError, match=f"{path} is not a readable run checkpoint"):
        fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=2)


def test_non_finite_or_foreign_weights_in_a_checkpoint_are_named(tmp_path):
    """A well-formed file whose weights are NaN is refused at load, naming the variable (not later as a
    'non-finite loss'); the state of another model is refused before any array is read."""
    from tf_wsoftmax.training.checkpoint import describe
    from tf_wsoftmax.training.checkpoint import write_checkpoint

    images, labels = pixel_problem()
    model = make_model()
    fit_in(tmp_path / "run", model, EpochBatches(images, labels, 8), epochs=1)
    path = str(tmp_path / "run" / "checkpoint.zip")
    state = read_state(path)
    scrambled = [np.full_like(a, np.nan) if a.dtype.kind == "f" else a for a in arrays(model)]
    write_checkpoint(path, scrambled, dict(state, variables=describe(run_variables(model))))
    with pytest.raises(CheckpointError, match="non-finite values in .*kernel"):
        fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=2)
    other = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(7)])
    wide = MarginClassifier(other, build_loss("wsoftmax", 3, alpha=1.0)[0])
    wide.compile(optimizer="sgd", metrics=["accuracy"])
    fit_in(tmp_path / "wide", wide, EpochBatches(images, labels, 8), epochs=1)
    with pytest.raises(CheckpointError, match="another model"):
        fit_in(tmp_path / "wide", make_model(), EpochBatches(images, labels, 8), epochs=2)


def make_sampling_model(seed=0):
    """A W-Softmax head of 6 classes at sample rate 0.5: its kernel is class-major, (6, 4)."""
    from tf_wsoftmax.layers import NormalizedDense
    from tf_wsoftmax.training import LazyColumnSGD

    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    model = MarginClassifier(backbone, NormalizedDense(6, alpha=1.0, sample_rate=0.5, sample_seed=1))
    model.compile(optimizer=LazyColumnSGD(0.05, momentum=0.9), metrics=["accuracy"])
    return model


def test_a_checkpoint_of_a_sampling_head_in_the_former_column_layout_is_refused(tmp_path):
    """A class-sampling head's kernel (and its momentum) is (K, d); a checkpoint that holds them
    (d, K), as a head at rate 1 or a tf_wsoftmax before the class-major layout wrote it, is refused
    before any array is read, naming the file, the variable and both shapes."""
    from tf_wsoftmax.training.checkpoint import write_checkpoint

    images, labels = pixel_problem()
    model = make_sampling_model()
    assert tuple(model.head.kernel.shape) == (6, 4)
    fit_in(tmp_path / "run", model, EpochBatches(images, labels, 8), epochs=1)
    path = str(tmp_path / "run" / "checkpoint.zip")
    state = read_state(path)
    kernel_shaped = [tuple(v.shape) == (6, 4) for v in run_variables(model)]
    assert sum(kernel_shaped) == 2  # the kernel and its momentum
    former = [a.T if shaped else a for a, shaped in zip(arrays(model), kernel_shaped)]
    write_checkpoint(path, former, state)
    with pytest.raises(CheckpointError, match=(
        rf"{path} holds the state of another model \(first difference: .*kernel has shape \[4, 6\] in the "
        r"file, \[6, 4\] in the model\)\. A class-sampling head .* class-major, \(K, d\)"
    )):
        fit_in(tmp_path / "run", make_sampling_model(), EpochBatches(images, labels, 8), epochs=2)


def test_weights_of_a_head_in_the_column_layout_are_refused_by_a_sampling_head(tmp_path):
    """`load_weights` of (d, K) head weights (a head at rate 1) into the class-major kernel of a
    sampling head: a ValueError naming both shapes and the layout, not Keras' bare shape error."""
    from tf_wsoftmax.layers import NormalizedDense

    keras.utils.set_random_seed(0)
    backbone = keras.Sequential([keras.Input((2, 2, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    head = NormalizedDense(6, alpha=1.0, sample_seed=1)
    head.build((None, 4))
    assert tuple(head.kernel.shape) == (4, 6)
    path = str(tmp_path / "head.weights.h5")
    keras.Sequential([backbone, head]).save_weights(path)
    sampling = make_sampling_model()
    target = keras.Sequential([sampling.backbone, sampling.head])
    with pytest.raises(ValueError, match=r"kernel has shape \(4, 6\), expected \(6, 4\)\. The head samples classes"):
        target.load_weights(path)


def test_a_run_whose_checkpoint_is_gone_is_refused_not_restarted(tmp_path):
    images, labels = pixel_problem()
    fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=1)
    os.remove(tmp_path / "run" / "checkpoint.zip")
    with pytest.raises(RunFolderError, match="history.jsonl.*checkpoint .*checkpoint.zip is missing.*--overwrite"):
        fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=2)
    with open(tmp_path / "run" / "history.jsonl") as f:
        assert len(f.readlines()) == 1  # nothing appended


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    images, labels = pixel_problem()
    fit_in(tmp_path / "run", make_model(), EpochBatches(images, labels, 8), epochs=1)
    with RunFolder(str(tmp_path / "run")) as folder:
        with pytest.raises(RunFolderError, match="checkpoint of another run.*problem: 'pixels' -> 'other'"):
            fit_run(make_model(), EpochBatches(images, labels, 8), folder, 1, {"problem": "other", "epochs": 3},
                    verbose=0)
def test_array_batches_cover_every_example_once_in_order():
    images, labels = pixel_problem(n=11)
    batches = ArrayBatches(images, labels, batch_size=4, mean=np.float32([0.5]), std=np.float32([0.5]))
    assert len(batches) == 3
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), labels)
    np.testing.assert_allclose(np.concatenate([x for x, _ in batches]),
                               standardize_array(images, np.float32([0.5]), np.float32([0.5])))
