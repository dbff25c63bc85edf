"""A run folder is a record to trust, on every backend: identity, schedule, data, overwrite, foreign files.

`run_training` (the runner of `tf-wsoftmax train` and the sweeps) on the
digits and on small IDX folders the tests write, with the tiny backbone.
"""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from tests.data_files import make_idx_folder
from tests.data_files import write_idx
from tf_wsoftmax.app.experiment import TrainConfig
from tf_wsoftmax.app.experiment import run_training
from tf_wsoftmax.training import RunFolderError

DIGITS = TrainConfig(dataset="digits", backbone="tiny", epochs=1, checkpoint_every=10)
STEPS = 29  # ceil(1437 / 50)


def test_the_identity_is_the_resolved_config_not_the_flags_as_typed(tmp_path):
    """A run made with alpha 1.0 typed out resumes without it (1.0 is the default), and vice versa."""
    first = run_training(dataclasses.replace(DIGITS, loss_params={"alpha": 1.0}), str(tmp_path), verbose=False)
    again = run_training(DIGITS, str(tmp_path), verbose=False)
    assert again["call"]["resumed_from_step"] == STEPS == first["steps"]
    assert again["config"]["loss_params"] == first["config"]["loss_params"]


def test_the_softmax_phase_is_decided_once_and_fewer_epochs_than_trained_are_refused(tmp_path):
    """2 epochs: a quarter is 29 softmax steps. Extended to 4 epochs, the run keeps its 29 (a quarter of
    4 would be 58 and would train steps 29-57 at alpha 0 again); 1 epoch is fewer than trained."""
    out = str(tmp_path)
    two = run_training(dataclasses.replace(DIGITS, epochs=2), out, verbose=False)
    assert two["softmax_steps"] == STEPS
    four = run_training(dataclasses.replace(DIGITS, epochs=4), out, verbose=False)
    assert four["softmax_steps"] == STEPS and four["steps"] == 4 * STEPS and four["epochs"] == 4
    assert four["config"]["loss_params"]["alpha_warmup_steps"] == STEPS
    with pytest.raises(RunFolderError, match=f"has trained {4 * STEPS} steps.*at least 4 epochs"):
        run_training(dataclasses.replace(DIGITS, epochs=1), out, verbose=False)
    with pytest.raises(RunFolderError, match="softmax_steps: 29 -> 58"):  # an explicit other phase is another run
        run_training(dataclasses.replace(DIGITS, epochs=4, pretrain_epochs=2), out, verbose=False)


def relabelled_copy(source, target):
    """The IDX folder `source` with its training labels shuffled."""
    shutil.copytree(source, target)
    labels = np.roll((np.arange(60) % 10).astype(np.uint8), 1)
    write_idx(os.path.join(target, "train-labels-idx1-ubyte.gz"), labels)


def test_another_data_source_is_refused_and_the_same_data_elsewhere_resumes(tmp_path):
    make_idx_folder(str(tmp_path / "a"), n_train=60, n_test=20)
    relabelled_copy(tmp_path / "a", tmp_path / "shuffled")
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    config = TrainConfig(dataset="fashion_mnist", data_dir=str(tmp_path / "a"), download=False, backbone="tiny",
                         epochs=1, batch_size=20)
    out = str(tmp_path / "run")
    run_training(config, out, verbose=False)
    with pytest.raises(RunFolderError, match="data.train.labels_sha256"):
        run_training(dataclasses.replace(config, data_dir=str(tmp_path / "shuffled"), epochs=2), out, verbose=False)
    moved = run_training(dataclasses.replace(config, data_dir=str(tmp_path / "copy"), epochs=2), out, verbose=False)
    assert moved["call"]["resumed_from_step"] == 3 and moved["config"]["data_dir"] == str(tmp_path / "copy")


def test_overwrite_deletes_only_what_the_package_wrote(tmp_path):
    """--overwrite refuses (deleting nothing) while a foreign file is there, naming it; without one it
    deletes the run's files only, and keeps the folder the user made."""
    out = tmp_path / "mine"
    out.mkdir()
    run_training(DIGITS, str(out), verbose=False)
    (out / "notes.txt").write_text("my notes")
    other = dataclasses.replace(DIGITS, seed=3)
    with pytest.raises(RunFolderError, match="also holds notes.txt"):
        run_training(other, str(out), verbose=False, overwrite=True)
    assert (out / "notes.txt").read_text() == "my notes" and (out / "checkpoint.zip").exists()
    (out / "notes.txt").unlink()
    fresh = run_training(other, str(out), verbose=False, overwrite=True)
    assert fresh["call"]["resumed_from_step"] is None and fresh["config"]["seed"] == 3
    with open(out / "manifest.json") as f:
        assert json.load(f)["created_folder"] is False


def test_a_file_the_package_did_not_write_is_never_overwritten(tmp_path):
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(RunFolderError, match="metrics.json exists and was not written by tf_wsoftmax"):
        run_training(DIGITS, str(tmp_path), verbose=False)
    assert (tmp_path / "metrics.json").read_text() == "{}"


@pytest.mark.parametrize("content,match", [
    ("[1, 2]", "holds list, not a JSON object"), ("{not json", "not readable JSON"),
    ('{"seed": 0}', "has no 'identity' object"),
])
def test_a_config_json_that_is_not_a_run_is_named(tmp_path, content, match):
    (tmp_path / "config.json").write_text(content)
    with pytest.raises(RunFolderError, match=f"config.json.*{match}|{match}.*config.json"):
        run_training(DIGITS, str(tmp_path), verbose=False)
