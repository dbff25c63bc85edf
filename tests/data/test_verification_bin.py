"""InsightFace .bin verification sets: reading, bad files, and `tf-wsoftmax verify`."""

import json
import pickle
import re

import keras
import numpy as np
import pytest

from tests.data.test_recordio import png_bytes
from tf_wsoftmax.data.verification_bin import VerificationFileError
from tf_wsoftmax.data.verification_bin import load_verification_bin
from tf_wsoftmax.data.verification_bin import write_verification_bin
from tf_wsoftmax.eval.verification_metrics import contiguous_folds
from tf_wsoftmax.eval.verification_metrics import verification_metrics


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
    _, other_encoded, other_issame = hand_built_set(pairs=24)  # 10 folds need >= 2 pairs each
    write_verification_bin(tmp_path / "agedb_30.bin", other_encoded, other_issame)
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
    assert metrics["lfw"]["pairs"] == 20 and metrics["agedb_30"]["pairs"] == 24 and metrics["lfw"]["auc"] == 1.0
    assert cli.main(["verify", "--model", str(tmp_path / "embedder.keras"), "--bin", str(tmp_path / "nope.bin")]) == 2


def test_protocol_5_pickle_of_numpy_arrays_loads(tmp_path):
    """What InsightFace's newer scripts write: encoded images as NumPy uint8 arrays, protocol 5
    (NumPy's reduce is `_frombuffer` of an in-band buffer)."""
    images, encoded, issame = hand_built_set(pairs=3)
    arrays = [np.frombuffer(data, np.uint8) for data in encoded]
    with open(tmp_path / "p5.bin", "wb") as f:
        pickle.dump((arrays, issame.tolist()), f, protocol=5)
    assert b"_frombuffer" in (tmp_path / "p5.bin").read_bytes()
    loaded, loaded_same = load_verification_bin(tmp_path / "p5.bin")
    np.testing.assert_array_equal(loaded, images)
    np.testing.assert_array_equal(loaded_same, issame)


class _AllocationBomb:
    def __reduce__(self):  # pickled as the call bytearray(3_000_000_000)
        return (bytearray, (3_000_000_000,))


def test_a_tiny_pickle_cannot_allocate_gigabytes(tmp_path):
    """`builtins.bytearray(3e9)` in a few dozen bytes: refused before anything is allocated."""
    (tmp_path / "bomb.bin").write_bytes(pickle.dumps(([_AllocationBomb()], [True]), protocol=2))
    assert (tmp_path / "bomb.bin").stat().st_size < 100
    with pytest.raises(VerificationFileError, match="bytearray of a size"):
        load_verification_bin(tmp_path / "bomb.bin")


def png_header_only(width, height):
    """A PNG whose header states width x height and that holds no pixel data (about 60 bytes)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_issame_must_hold_booleans_and_images_their_size_limit(tmp_path):
    _, encoded, issame = hand_built_set(pairs=2)
    for bad, shown in ((["False", "True"], "'False'"), ([2, 1], "2")):
        with open(tmp_path / "flags.bin", "wb") as f:
            pickle.dump((encoded, bad), f)
        with pytest.raises(VerificationFileError, match=f"must hold booleans; found {shown}"):
            load_verification_bin(tmp_path / "flags.bin")
    with open(tmp_path / "ints.bin", "wb") as f:
        pickle.dump((encoded, [1, 0]), f)
    assert load_verification_bin(tmp_path / "ints.bin")[1].tolist() == [True, False]
    huge = list(encoded)
    huge[2] = png_header_only(10000, 10000)
    with open(tmp_path / "huge.bin", "wb") as f:
        pickle.dump((huge, issame.tolist()), f)
    with pytest.raises(VerificationFileError, match=r"image 2 \(pair 1\).*100000000 pixels, more than max_pixels=40000000"):
        load_verification_bin(tmp_path / "huge.bin")


def test_sets_with_one_file_name_in_two_folders_are_two_rows():
    from tf_wsoftmax.eval.verification import set_names

    assert set_names(["d1/lfw.bin", "d2/lfw.bin", "x/cfp_fp.bin"]) == ["d1/lfw.bin", "d2/lfw.bin", "cfp_fp"]
    with pytest.raises(ValueError, match="more than once: a/lfw.bin$"):
        set_names(["a/lfw.bin", "a/lfw.bin"])


def test_one_file_under_two_spellings_or_links_is_given_twice(tmp_path, monkeypatch):
    """Paths are compared as files (device and inode; the resolved path for files that do not exist)."""
    import os

    from tf_wsoftmax.eval.verification import set_names

    monkeypatch.chdir(tmp_path)
    os.mkdir("d1")
    _, encoded, issame = hand_built_set(pairs=2)
    write_verification_bin("d1/lfw.bin", encoded, issame)
    os.symlink(os.path.abspath("d1/lfw.bin"), "link.bin")
    os.link("d1/lfw.bin", "hard.bin")
    for twice in (["d1/lfw.bin", "./d1/lfw.bin"], ["d1/lfw.bin", str(tmp_path / "d1" / "lfw.bin")],
                  ["d1/lfw.bin", "d1/../d1/lfw.bin"], ["link.bin", "d1/lfw.bin"], ["hard.bin", "d1/lfw.bin"],
                  ["gone/x.bin", "gone/../gone/x.bin"]):
        with pytest.raises(ValueError, match=re.escape(f"more than once: {twice[0]} and {twice[1]} are the same file")):
            set_names(twice)
    write_verification_bin("d1/other.bin", encoded, issame)  # same content, another file: two sets
    assert set_names(["d1/lfw.bin", "d1/other.bin"]) == ["lfw", "other"]


def test_verify_errors_name_the_set(tmp_path):
    from tf_wsoftmax.eval.verification import evaluate_bins

    def embed(batch):
        return np.asarray(batch).reshape(len(batch), -1)[:, :8]

    _, encoded, issame = hand_built_set(pairs=10)  # 10 folds of 1 pair
    write_verification_bin(tmp_path / "small.bin", encoded, issame)
    with pytest.raises(ValueError, match=r"small.bin: every fold needs at least 2 pairs"):
        evaluate_bins(embed, [str(tmp_path / "small.bin")], image_size=12, flip_fusion=False)
    _, encoded, _ = hand_built_set(pairs=20)
    write_verification_bin(tmp_path / "same.bin", encoded, [True] * 20)
    with pytest.raises(ValueError, match=r"same.bin: the set needs both same and different pairs"):
        evaluate_bins(embed, [str(tmp_path / "same.bin")], image_size=12, flip_fusion=False)
    with pytest.raises(ValueError, match="far_target"):  # refused before any set is read
        evaluate_bins(embed, [str(tmp_path / "absent.bin")], image_size=12, far_target=0.0)


def test_lfw_errors_name_the_pairs_file(tmp_path):
    import tensorflow as tf

    from tests.app.test_faces import make_identities
    from tests.app.test_faces import write_pairs
    from tf_wsoftmax.eval import lfw

    make_identities(tmp_path / "aligned")
    write_pairs(tmp_path / "pairs.txt")
    with pytest.raises(ValueError, match=r"pairs.txt: the pair scores are not all finite"):
        lfw.evaluate_lfw(lambda batch: tf.fill((tf.shape(batch)[0], 4), float("nan")), str(tmp_path / "pairs.txt"),
                         str(tmp_path / "aligned"), image_size=32, flip_fusion=False)


def test_lfw_and_bin_verification_share_one_metrics_module_without_an_import_cycle():
    """Each of the two modules imports the shared metrics at the top; neither imports the other."""
    import ast
    import pathlib

    import tf_wsoftmax.eval as package

    folder = pathlib.Path(package.__file__).parent
    for name, other in (("lfw", "verification"), ("verification", "lfw")):
        tree = ast.parse((folder / f"{name}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert f"tf_wsoftmax.eval.{other}" not in imported, name
        top = {node.module for node in tree.body if isinstance(node, ast.ImportFrom)}
        assert "tf_wsoftmax.eval.verification_metrics" in top, name


def test_metrics_refuse_what_they_cannot_measure():
    same = np.arange(40) % 2 == 0
    folds = contiguous_folds(40)
    scores = np.where(same, 0.9, 0.1)
    for far in (0.0, 1.0, 2.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="far_target"):
            verification_metrics(scores, same, folds, far)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        verification_metrics(scores[:10], same[:10], contiguous_folds(10), 1e-3)
    with pytest.raises(ValueError, match="at least 2 pairs"):
        verification_metrics(scores[:0], same[:0], contiguous_folds(0), 1e-3)
    with pytest.raises(ValueError, match="both same and different"):
        verification_metrics(scores, np.ones(40, bool), folds, 1e-3)
    constant = verification_metrics(np.zeros(40), same, folds, 1e-3)  # e.g. an untrained embedder
    finite = [v for k, v in constant.items() if isinstance(v, float)]
    assert np.all(np.isfinite(finite)) and constant["accuracy_mean"] == 0.5 and constant["auc"] == 0.5


def test_verify_names_a_model_file_that_is_not_an_embedder(tmp_path, capsys):
    from tf_wsoftmax.app import cli

    _, encoded, issame = hand_built_set(pairs=20)
    write_verification_bin(tmp_path / "lfw.bin", encoded, issame)
    (tmp_path / "notes.keras").write_text("not a model")
    assert cli.main(["verify", "--model", str(tmp_path / "notes.keras"), "--bin", str(tmp_path / "lfw.bin")]) == 2
    assert "is not a Keras model file" in capsys.readouterr().err
    assert cli.main(["verify", "--model", str(tmp_path / "absent.keras"), "--bin", str(tmp_path / "lfw.bin")]) == 2
    assert "absent.keras: no such file" in capsys.readouterr().err
    classifier = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)],
                                  name="classifier")
    classifier.save(tmp_path / "model.keras")
    assert cli.main(["verify", "--model", str(tmp_path / "model.keras"), "--bin", str(tmp_path / "lfw.bin")]) == 2
    assert "is not a face embedder" in capsys.readouterr().err
