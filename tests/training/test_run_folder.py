"""Run folders: one process at a time, a manifest of what the package wrote, no partial leftovers."""

import json
import os
import subprocess
import sys

import pytest

from tf_wsoftmax.training import RunFolder
from tf_wsoftmax.training import RunFolderError
from tf_wsoftmax.training.run_folder import identity_differences

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_second_process_is_refused_at_once_while_the_folder_is_in_use(tmp_path):
    with RunFolder(str(tmp_path / "run")):
        code = (
            "import sys\n"
            "from tf_wsoftmax.training.run_folder import RunFolder, RunFolderError\n"
            f"try:\n    RunFolder({str(tmp_path / 'run')!r}).open()\nexcept RunFolderError as error:\n"
            "    print(error); sys.exit(3)\n"
        )
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert result.returncode == 3 and f"in use by another process (pid {os.getpid()})" in result.stdout
    with RunFolder(str(tmp_path / "run")):  # released on exit (and by the kernel if the process dies)
        pass


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_train_refuses_a_folder_another_process_trains_in(tmp_path, backend):
    with RunFolder(str(tmp_path / "run")):
        result = subprocess.run(
            [sys.executable, "-m", "tf_wsoftmax_cli", "train", "--dataset", "digits", "--backbone", "tiny",
             "--epochs", "1", "--quiet", "--backend", backend, "--out", str(tmp_path / "run")],
            cwd=ROOT, env=dict(os.environ, KERAS_BACKEND=backend), capture_output=True, text=True, timeout=300,
        )
    assert result.returncode == 2 and "is in use by another process" in result.stderr
    assert sorted(os.listdir(tmp_path / "run")) == [".lock", "manifest.json"]  # nothing trained, nothing written


def test_files_are_written_atomically_recorded_and_leftovers_of_killed_writers_removed(tmp_path):
    folder_path = tmp_path / "run"
    with RunFolder(str(folder_path)) as folder:
        folder.write_json("metrics.json", {"a": 1})
        folder.save_with("model.keras", lambda path: open(path, "w").write("x"))
        assert sorted(folder.written()) == [".lock", "manifest.json", "metrics.json", "model.keras"]
    (folder_path / "metrics.json.partial-99999").write_text("half")  # a kill inside a write
    (folder_path / "model.partial-99999.keras").write_text("half")
    (folder_path / "notes.partial-1.txt").write_text("not ours")  # a name the package never wrote
    with RunFolder(str(folder_path)):
        pass
    assert sorted(os.listdir(folder_path)) == [".lock", "manifest.json", "metrics.json", "model.keras",
                                                "notes.partial-1.txt"]
    with open(folder_path / "manifest.json") as f:
        assert json.load(f)["created_folder"] is True


def test_clear_deletes_the_package_files_and_refuses_foreign_ones(tmp_path):
    folder_path = tmp_path / "run"
    with RunFolder(str(folder_path)) as folder:
        folder.write_json("metrics.json", {})
        os.makedirs(folder.claim_name("logs"))  # a folder the package writes into
        (folder_path / "logs" / "mine.txt").write_text("x")
        (folder_path / "yours.txt").write_text("x")
        os.makedirs(folder_path / "theirs")
        with pytest.raises(RunFolderError, match="also holds theirs, yours.txt"):
            folder.clear()
        assert (folder_path / "metrics.json").exists() and (folder_path / "logs" / "mine.txt").exists()
        os.remove(folder_path / "yours.txt")
        os.rmdir(folder_path / "theirs")
        folder.clear()
        assert sorted(os.listdir(folder_path)) == [".lock", "manifest.json"]


def test_a_manifest_that_is_not_ours_is_refused(tmp_path):
    (tmp_path / "manifest.json").write_text('{"files": "everything"}')
    with pytest.raises(RunFolderError, match="not a tf_wsoftmax manifest"):
        RunFolder(str(tmp_path)).open()


def test_identity_differences_name_nested_keys_and_skip_resumable_ones():
    saved = {"epochs": 2, "seed": 0, "data": {"train": {"labels_sha256": "a"}}}
    wanted = {"epochs": 5, "seed": 1, "data": {"train": {"labels_sha256": "b"}}}
    assert identity_differences(saved, wanted, ("epochs",)) == [
        "data.train.labels_sha256: 'a' -> 'b'", "seed: 0 -> 1",
    ]
