"""Dataset sources and pipelines, on files the tests write themselves."""

import os
import pickle

import numpy as np
import pytest

from tests.data_files import make_idx_folder
from tf_wsoftmax import data


def make_cifar_folder(root, name, n_per_batch=8):
    rng = np.random.default_rng(1)
    layout = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels", 10),
              "cifar100": ("cifar-100-python", ["train", "test"], b"fine_labels", 100)}[name]
    folder = os.path.join(root, layout[0])
    os.makedirs(folder)
    images = {}
    for file in layout[1]:
        pixels = rng.integers(0, 256, size=(n_per_batch, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, layout[3], size=n_per_batch))
        with open(os.path.join(folder, file), "wb") as f:
            pickle.dump({b"data": pixels, layout[2]: labels}, f)
        images[file] = (pixels, labels)
    return images


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip(tmp_path, gz):
    arrays = make_idx_folder(str(tmp_path), gz=gz)
    (x_train, y_train), (x_test, y_test) = data.load_idx_dataset(str(tmp_path))
    np.testing.assert_array_equal(x_train[..., 0], arrays["train"][0])
    np.testing.assert_array_equal(y_test, arrays["t10k"][1])
    assert x_train.shape == (30, 28, 28, 1) and y_train.dtype == np.int32


def test_idx_errors(tmp_path):
    make_idx_folder(str(tmp_path), gz=False)
    images = str(tmp_path / "train-images-idx3-ubyte")
    with open(images, "r+b") as f:
        f.truncate(1000)
    with pytest.raises(data.DataFileError, match="truncated"):
        data.load_idx_dataset(str(tmp_path))
    with open(images, "wb") as f:
        f.write(b"\x12\x34\x08\x03garbage")
    with pytest.raises(data.DataFileError, match="magic"):
        data.read_idx(images)
    os.remove(images)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        data.load_idx_dataset(str(tmp_path))
    bad_gz = str(tmp_path / "x.gz")
    with open(bad_gz, "wb") as f:
        f.write(b"not gzip")
    with pytest.raises(data.DataFileError, match="Cannot read"):
        data.read_idx(bad_gz)


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_pickles(tmp_path, name):
    written = make_cifar_folder(str(tmp_path), name)
    loaded = data.load_dataset(name, data_dir=str(tmp_path), download=False)
    x_train, y_train = loaded.train
    first_file = sorted(written)[0] if name == "cifar10" else "train"
    pixels, labels = written[first_file]
    # Rows are R, G, B planes of 32x32: pixel (0, 0)'s channels are columns 0, 1024, 2048.
    np.testing.assert_array_equal(x_train[0, 0, 0], pixels[0, [0, 1024, 2048]])
    np.testing.assert_array_equal(x_train[0, 0, 1], pixels[0, [1, 1025, 2049]])
    assert x_train.shape[1:] == (32, 32, 3) and y_train[0] == labels[0]
    assert loaded.num_classes == (10 if name == "cifar10" else 100)
    assert "local files" in loaded.source


def test_corrupt_cifar_batch(tmp_path):
    make_cifar_folder(str(tmp_path), "cifar10")
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_3", "wb") as f:
        f.write(b"\x80\x04truncated")
    with pytest.raises(data.DataFileError, match="data_batch_3"):
        data.load_dataset("cifar10", data_dir=str(tmp_path), download=False)


def test_load_dataset_sources_and_errors(tmp_path):
    make_idx_folder(str(tmp_path / "mnist"))
    loaded = data.load_dataset("mnist", data_dir=str(tmp_path / "mnist"), classes=5, download=False)
    assert loaded.num_classes == 5 and loaded.train[1].max() == 4
    assert len(loaded.train[1]) == 15  # 30 examples, labels cycling over 10 classes
    with pytest.raises(ValueError, match="Unknown dataset"):
        data.load_dataset("imagenet")
    with pytest.raises(ValueError, match="classes"):
        data.load_dataset("digits", classes=11)
    with pytest.raises(FileNotFoundError) as error:
        data.load_dataset("cifar100", data_dir=str(tmp_path / "nowhere"), download=False)
    message = str(error.value)
    assert "no such folder" in message and "tensorflow_datasets.load('cifar100')" in message
    assert "--data-dir" in message


def test_digits_are_embedded():
    loaded = data.load_dataset("digits")
    assert loaded.train[0].dtype == np.uint8 and loaded.train[0].shape[1:] == (8, 8, 1)
    assert len(loaded.train[1]) + len(loaded.test[1]) == 1797


def test_offline_download_fails_in_seconds_naming_the_host(tmp_path, monkeypatch):
    """With the download host unreachable, tfds is asked only for prepared
    data (download=False) and the error says what was tried."""
    from tf_wsoftmax.data import sources

    calls = []
    monkeypatch.setattr(sources, "can_reach", lambda host, port, timeout=3.0: False)
    real_tfds = sources._tfds
    monkeypatch.setattr(sources, "_tfds", lambda name, d, download: calls.append(download) or real_tfds(name, d, False))
    with pytest.raises(FileNotFoundError) as error:
        data.load_dataset("cifar10", data_dir=str(tmp_path), download=True)
    assert calls == [False]
    assert "www.cs.toronto.edu:443 is unreachable" in str(error.value)


def test_can_reach_answers_quickly_for_a_closed_port():
    import socket
    import time

    from tf_wsoftmax.data.sources import can_reach

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert can_reach("127.0.0.1", port, timeout=2.0)
    started = time.time()
    assert not can_reach("127.0.0.1", port, timeout=2.0)  # closed now: refused at once
    assert time.time() - started < 2.0
