"""`pack` destinations: a missing folder is named, and the partial files of a killed pack are cleaned."""

import os
import subprocess
import sys

import pytest

from tests.data.test_recordio import make_faces
from tf_wsoftmax.data import folder_packer


def test_a_missing_destination_folder_is_named_before_anything_is_read(tmp_path, capsys):
    from tf_wsoftmax.app import cli

    make_faces(tmp_path / "src", counts=(1, 1))
    rec = tmp_path / "absent" / "train.rec"
    with pytest.raises(FileNotFoundError, match=f"the folder {tmp_path / 'absent'} does not exist") as error:
        folder_packer.pack_folder(str(tmp_path / "src"), str(rec))
    assert "partial" not in str(error.value)
    assert cli.main(["pack", str(tmp_path / "src"), str(rec)]) == 2
    printed = capsys.readouterr().err
    assert str(tmp_path / "absent") in printed and "partial" not in printed
    assert not (tmp_path / "absent").exists()


def _ended_pid():
    """The id of a process that has exited (as a killed pack's)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_partial_files_of_a_killed_pack_of_this_name_are_removed_and_nothing_else(tmp_path):
    make_faces(tmp_path / "src", counts=(2, 1))
    rec = str(tmp_path / "train.rec")
    killed = folder_packer.partial_paths(rec, _ended_pid())
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        in_use = folder_packer.partial_paths(rec, running.pid)  # a pack still writing: kept
        others = [tmp_path / "other.rec.partial-12.rec", tmp_path / "train.rec.partial-x1.rec",
                  tmp_path / "train.rec.partial-12.rec.bak", tmp_path / "train.rec.partial"]
        for path in list(killed) + list(in_use) + others:
            with open(path, "wb") as f:
                f.write(b"half a pack")
        with pytest.warns(UserWarning, match="removed the partial files of an interrupted pack"):
            summary = folder_packer.pack_folder(str(tmp_path / "src"), rec)
        assert sorted(summary["removed"]) == sorted(killed) and summary["images"] == 3
        assert not any(os.path.exists(p) for p in killed)
        assert all(os.path.exists(p) for p in list(in_use) + others)
    finally:
        running.kill()
        running.wait()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["src", "train.rec", "train.idx"] + [os.path.basename(p) for p in in_use] + [p.name for p in others]
    )
