"""Hostile pickles, built here opcode by opcode: refused while unpickling, inert, bounded in memory.

The `.bin` verification sets and the CIFAR batches are both read by `tf_wsoftmax.data.safe_pickle`.
Peak memory is measured in a child process (`ru_maxrss`), whose address space is capped so that a
regression fails the test instead of exhausting the machine.
"""

import os
import pickle
import struct
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

from tf_wsoftmax.data.safe_pickle import BUDGET_SLACK
from tf_wsoftmax.data.safe_pickle import BYTES_PER_FILE_BYTE
from tf_wsoftmax.data.safe_pickle import RestrictedPickleError
from tf_wsoftmax.data.safe_pickle import load_data_pickle
from tf_wsoftmax.data.verification_bin import VerificationFileError
from tf_wsoftmax.data.verification_bin import load_verification_bin

REPOSITORY = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENCODE = b"c_codecs\nencode\n"  # GLOBAL _codecs.encode


def unicode(text):
    """BINUNICODE: a str, as protocol 2 stores the latin-1 text of bytes."""
    data = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(data)) + data


def binbytes(data):
    return b"B" + struct.pack("<I", len(data)) + data


def as_bin(image_expressions):
    """A `.bin` pickle whose bins are the given opcode expressions (one pair flag per two)."""
    body = b"]" + b"".join(expression + b"a" for expression in image_expressions)  # EMPTY_LIST, APPEND
    flags = b"]" + b"\x88a" * (len(image_expressions) // 2 or 1)
    return b"\x80\x03" + body + flags + b"\x86."  # TUPLE2, STOP


def nested_hex(levels, payload):
    """encode(encode(... encode(payload, 'hex') ..., 'hex'), 'hex'): 2 ** levels x len(payload) bytes."""
    expression = binbytes(payload)
    for _ in range(levels):
        expression = ENCODE + expression + unicode("hex") + b"\x86R"  # TUPLE2, REDUCE
    return expression


def memo_latin1_copies(text_size, copies):
    """One text in the memo, then `copies` calls encode(memo, 'latin1'): each builds a new copy."""
    setup = ENCODE + b"q\x00" + unicode("a" * text_size) + b"q\x01" + unicode("latin1") + b"q\x02" + b"000"  # POP x3
    call = b"h\x00h\x01h\x02\x86R"  # BINGET the three, TUPLE2, REDUCE
    return setup, [call] * copies


def compressible_png(width, height):
    """A real PNG of zeros: width x height pixels in a few tens of KB."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * width)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def load_in_child(path, loader="load_verification_bin", kwargs=""):
    """Loads `path` in a child process capped at 2 GiB of address space; returns (refusal message, peak
    growth of the resident set in MiB during the load)."""
    module = "verification_bin" if loader == "load_verification_bin" else "cifar"
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
        from tf_wsoftmax.data.{module} import {loader}
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            {loader}(sys.argv[1]{kwargs})
            message = "loaded"
        except Exception as error:
            message = type(error).__name__ + ": " + str(error)
        print(message)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    env = dict(os.environ, PYTHONPATH=REPOSITORY, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    message, growth = done.stdout.strip().rsplit("\n", 1)
    return message, float(growth)


def test_nested_hex_codecs_are_refused_before_anything_grows(tmp_path):
    """30 levels of hex over 1.5 KB would be 1.5 TB; the first hex call is refused."""
    path = tmp_path / "hex.bin"
    path.write_bytes(as_bin([nested_hex(30, os.urandom(1500))]))
    assert path.stat().st_size < 4000
    message, growth = load_in_child(path)
    assert message.startswith("VerificationFileError: " + str(path)), message
    assert "codec 'hex'" in message
    assert growth < 32, growth


def test_memo_copies_are_counted_while_unpickling(tmp_path):
    """A 200 KB text in the memo encoded 5000 times would build 1 GB; the count stops it after a few."""
    setup, calls = memo_latin1_copies(200_000, 5000)
    path = tmp_path / "copies.bin"
    path.write_bytes(b"\x80\x03" + setup + as_bin(calls)[2:])
    size = path.stat().st_size
    assert size < 300_000
    message, growth = load_in_child(path)
    assert message.startswith("VerificationFileError: " + str(path)), message
    assert f"past {BYTES_PER_FILE_BYTE * size + BUDGET_SLACK}" in message
    assert growth < 32, growth


def test_one_large_png_referenced_40_times_is_refused_before_decoding(tmp_path):
    """A 4000 x 4000 PNG (16 M pixels, under the 40 M per-image limit) of ~50 KB, in the memo once and
    referenced 40 times: 640 M pixels (1.9 GB) to decode. The set's pixel budget, summed over the
    headers with every reference counted, refuses it before any image is decoded."""
    png = compressible_png(4000, 4000)
    path = tmp_path / "memo.bin"
    path.write_bytes(pickle.dumps(([png] * 40, [True] * 20), protocol=2))
    assert path.stat().st_size < 150_000  # the PNG once (as latin-1 text), then 39 memo references
    message, growth = load_in_child(path)
    assert message.startswith(f"VerificationFileError: {path}: image 25 (pair 12)"), message
    assert "416000000 pixels in all, more than max_total_pixels=400000000" in message  # 26 x 16 M
    assert growth < 32, growth  # nothing decoded: one image alone would be 48 MB


def test_the_set_pixel_limit_is_the_users_to_raise(tmp_path):
    from tests.data.test_verification_bin import hand_built_set

    images, encoded, issame = hand_built_set(pairs=2, size=(12, 10))  # 4 images of 120 pixels
    with open(tmp_path / "small.bin", "wb") as f:
        pickle.dump((encoded, issame.tolist()), f, protocol=2)
    with pytest.raises(VerificationFileError, match=r"small.bin: image 3 \(pair 1\).*480 pixels in all, more than "
                                                    r"max_total_pixels=479"):
        load_verification_bin(tmp_path / "small.bin", max_total_pixels=479)
    np.testing.assert_array_equal(load_verification_bin(tmp_path / "small.bin", max_total_pixels=480)[0], images)


@pytest.mark.parametrize(
    "value, refused",
    [
        (np.array([b"x"], dtype=object), "dtype"),
        (np.zeros(3, np.float32), "dtype"),
        ({b"a": 1}, "holds a dict"),
        ({1, 2}, "holds a set"),
        (b"x".decode, "refusing to load builtins.getattr"),
    ],
)
def test_bins_hold_bytes_booleans_and_uint8_arrays_only(tmp_path, value, refused):
    path = tmp_path / "odd.bin"
    with open(path, "wb") as f:
        pickle.dump(([value, value], [True]), f, protocol=4)
    with pytest.raises(VerificationFileError, match=f"{path}: .*{refused}"):
        load_verification_bin(path)


def test_only_the_latin1_round_trip_and_bytearrays_of_data_are_built(tmp_path):
    path = tmp_path / "codec.pkl"
    for codec in ("utf-8", "base64", "rot13", "zlib"):
        path.write_bytes(b"\x80\x02" + ENCODE + unicode("abc") + unicode(codec) + b"\x86R.")
        with pytest.raises(RestrictedPickleError, match=f"{path}: refusing _codecs.encode with codec '{codec}'"):
            load_data_pickle(path, ("uint8",))
    path.write_bytes(b"\x80\x02" + ENCODE + unicode("\xff\x00") + unicode("latin-1") + b"\x86R.")
    assert load_data_pickle(path, ("uint8",)) == b"\xff\x00"
    path.write_bytes(pickle.dumps([bytearray(b"\x00\xff")], protocol=2))
    assert load_data_pickle(path, ("uint8",)) == [bytearray(b"\x00\xff")]
    path.write_bytes(b"\x80\x02cnumpy\nndarray\nK\x05\x85\x85R.")  # ndarray((5,)): uninitialised memory
    with pytest.raises(RestrictedPickleError, match="refusing to call numpy.ndarray"):
        load_data_pickle(path, ("uint8",))


def test_a_pickle_holding_itself_loads_without_looping(tmp_path):
    cycle = []
    cycle.append(cycle)
    path = tmp_path / "cycle.pkl"
    path.write_bytes(pickle.dumps(cycle, protocol=2))
    loaded = load_data_pickle(path, ("uint8",))
    assert loaded[0] is loaded


# CIFAR batches.


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickled by plain pickle.load: os.system("touch marker")
        return (os.system, (f"touch {self.marker}",))


def cifar_folder(root):
    from tests.data.test_sources import make_cifar_folder

    make_cifar_folder(str(root), "cifar10")
    return root / "cifar-10-batches-py"


def test_a_cifar_batch_that_would_run_code_is_refused_and_runs_nothing(tmp_path):
    from tf_wsoftmax.data import DataFileError
    from tf_wsoftmax.data import load_cifar_dataset

    folder = cifar_folder(tmp_path)
    marker = tmp_path / "ran"
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _RunsCode(marker), b"labels": [0]}, f, protocol=2)
    with pytest.raises(DataFileError, match=r"data_batch_1: refusing to load posix.system"):
        load_cifar_dataset(str(folder), "cifar10")
    assert not marker.exists()


@pytest.mark.parametrize("protocol, as_arrays", [(2, False), (2, True), (4, True), (5, True), (5, False)])
def test_genuine_cifar_batches_load(tmp_path, protocol, as_arrays):
    """Protocol 2 with bytes keys, labels a list of ints and metadata strings, as CIFAR's own batches
    hold them; protocol 4 / 5 with NumPy arrays, as newer writers store them."""
    from tf_wsoftmax.data import load_cifar_dataset

    folder = cifar_folder(tmp_path)
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(6, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=6)
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": labels if as_arrays else [int(v) for v in labels],
        b"data": pixels,
        b"filenames": [f"image_{i}.png".encode() for i in range(6)],
    }
    with open(folder / "data_batch_1", "wb") as f:
        pickle.dump(batch, f, protocol=protocol)
    (x_train, y_train), _ = load_cifar_dataset(str(folder), "cifar10")
    np.testing.assert_array_equal(x_train[:6], pixels.reshape(6, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_train[:6], labels)
