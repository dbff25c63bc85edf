"""InsightFace .bin verification sets: reading, bad files, and `tf-wsoftmax verify`."""

import json
import pickle

import keras
import numpy as np
import pytest

from tests.data.test_recordio import png_bytes
from tf_wsoftmax.data.verification_bin import VerificationFileError
from tf_wsoftmax.data.verification_bin import load_verification_bin
from tf_wsoftmax.data.verification_bin import write_verification_bin
from tf_wsoftmax.eval.verification import contiguous_folds


def hand_built_set(pairs=20, size=(12, 12)):
    """Pairs alternate same (the one image twice) and different (two images)."""
    images, encoded, issame = [], [], []
    for pair in range(pairs):
        same = pair % 2 == 0
        first, first_bytes = png_bytes(100 + pair, size)
        second, second_bytes = (first, first_bytes) if same else png_bytes(500 + pair, size)
        images += [first, second]
        encoded += [first_bytes, second_bytes]
        issame.append(same)
    return np.stack(images), encoded, np.array(issame)


def test_hand_built_bin_gives_the_expected_pairs(tmp_path):
    images, encoded, issame = hand_built_set()
    write_verification_bin(tmp_path / "set.bin", encoded, issame)
    loaded, loaded_same = load_verification_bin(tmp_path / "set.bin")
    np.testing.assert_array_equal(loaded, images)
    np.testing.assert_array_equal(loaded_same, issame)
    assert loaded.dtype == np.uint8 and loaded.shape == (40, 12, 12, 3)


def test_python2_style_pickle_of_bytes_and_numpy_bools_loads(tmp_path):
    _, encoded, issame = hand_built_set(pairs=2)
    with open(tmp_path / "np.bin", "wb") as f:
        pickle.dump((encoded, np.array(issame)), f, protocol=2)
    assert load_verification_bin(tmp_path / "np.bin")[1].tolist() == issame.tolist()


def test_bad_bins_name_the_problem(tmp_path):
    _, encoded, issame = hand_built_set(pairs=3)
    with pytest.raises(FileNotFoundError, match="missing.bin"):
        load_verification_bin(tmp_path / "missing.bin")
    (tmp_path / "garbage.bin").write_bytes(b"not a pickle at all")
    with pytest.raises(VerificationFileError, match="garbage.bin: not a verification"):
        load_verification_bin(tmp_path / "garbage.bin")
    with open(tmp_path / "odd.bin", "wb") as f:
        pickle.dump((encoded[:-1], issame.tolist()), f)
    with pytest.raises(VerificationFileError, match="5 images for 3 pairs"):
        load_verification_bin(tmp_path / "odd.bin")
    broken = list(encoded)
    broken[3] = b"\x89PNG broken"
    with open(tmp_path / "broken.bin", "wb") as f:
        pickle.dump((broken, issame.tolist()), f)
    with pytest.raises(VerificationFileError, match=r"image 3 \(pair 1\) cannot be decoded"):
        load_verification_bin(tmp_path / "broken.bin")
    with open(tmp_path / "code.bin", "wb") as f:
        pickle.dump((encoded, keras.layers.Dense), f)  # a pickle that would import code
    with pytest.raises(VerificationFileError, match="refusing to load"):
        load_verification_bin(tmp_path / "code.bin")


def test_folds_are_contiguous_blocks():
    assert contiguous_folds(23, 10).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] + [i for i in range(3, 10) for _ in (0, 1)]


@pytest.mark.slow
def test_verify_command_prints_one_row_per_set(tmp_path, capsys):
    from tf_wsoftmax.app import cli

    _, encoded, issame = hand_built_set(pairs=20)
    write_verification_bin(tmp_path / "lfw.bin", encoded, issame)
    write_verification_bin(tmp_path / "agedb_30.bin", encoded[:20], issame[:10])
    keras.utils.set_random_seed(0)
    embedder = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(), keras.layers.Dense(8)])
    embedder.save(tmp_path / "embedder.keras")
    out = tmp_path / "verify.json"
    code = cli.main(["verify", "--model", str(tmp_path / "embedder.keras"), "--bin", str(tmp_path / "lfw.bin"),
                     str(tmp_path / "agedb_30.bin"), "--flip", "--json", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| lfw | 100.00 +- 0.00 |" in printed and "| agedb_30 |" in printed  # same pairs score 1
    metrics = json.loads(out.read_text())
    assert metrics["lfw"]["pairs"] == 20 and metrics["agedb_30"]["pairs"] == 10 and metrics["lfw"]["auc"] == 1.0
    assert cli.main(["verify", "--model", str(tmp_path / "embedder.keras"), "--bin", str(tmp_path / "nope.bin")]) == 2
