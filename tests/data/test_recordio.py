"""RecordIO packs: byte layout, round trips, InsightFace's header record, corrupt packs."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from tf_wsoftmax.data import face_pack
from tf_wsoftmax.data import pack_face_batches
from tf_wsoftmax.data.images import decode_image
from tf_wsoftmax.data import folder_packer
from tf_wsoftmax.data import recordio_codec


def png_bytes(seed, size=(7, 5)):
    pixels = np.random.default_rng(seed).integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return pixels, buffer.getvalue()


def test_record_layout_is_dmlc_recordio():
    """magic, (flag << 29 | length), data, zero padding to 4 bytes; IRHeader 'IfQQ' in front."""
    payload = recordio_codec.pack_payload(recordio_codec.IRHeader(0, 3.0, 7, 0), b"abcde")
    assert payload[:24] == struct.pack("<IfQQ", 0, 3.0, 7, 0) and payload[24:] == b"abcde"
    record = recordio_codec.encode_record(payload)
    assert record[:4] == bytes.fromhex("0a23d7ce")  # 0xced7230a little-endian
    assert struct.unpack("<I", record[4:8])[0] == len(payload) == 29
    assert record[8:37] == payload and record[37:] == b"\0\0\0" and len(record) % 4 == 0


def test_payload_holding_the_magic_is_split_and_rejoined(tmp_path):
    magic = struct.pack("<I", recordio_codec.MAGIC)
    payload = b"abcd" + magic + b"efgh" + magic + b"ij"
    record = recordio_codec.encode_record(payload)
    flags = []
    position = 0
    while position < len(record):
        _, word = struct.unpack_from("<II", record, position)
        flags.append(word >> 29)
        length = word & (2**29 - 1)
        position += 8 + length + (-length % 4)
    assert flags == [1, 2, 3]
    with face_pack.RecordIOWriter(str(tmp_path / "m.rec")) as writer:
        writer.write(0, payload)
        writer.write(1, b"tail")
    with face_pack.RecordIOReader(str(tmp_path / "m.rec")) as reader:
        assert reader.read(0) == payload and reader.read(1) == b"tail"


def test_multi_label_header_round_trips():
    payload = recordio_codec.pack_payload(recordio_codec.IRHeader(0, (5.0, 9.0, 1.5)), b"img")
    header, data = recordio_codec.unpack_payload(payload)
    assert header.flag == 3 and header.label == (5.0, 9.0, 1.5) and data == b"img"


def make_faces(root, counts=(3, 1, 2)):
    """Identity folders of PNGs; returns [(label, pixels)] in label order."""
    expected = []
    for identity, count in enumerate(counts):
        folder = root / f"person_{identity}"
        folder.mkdir(parents=True)
        for index in range(count):
            pixels, data = png_bytes(10 * identity + index)
            (folder / f"{index}.png").write_bytes(data)
            expected.append((identity, pixels))
    return expected


def test_pack_reads_back_bit_exactly_with_labels_and_header_record(tmp_path):
    expected = make_faces(tmp_path / "src")
    summary = folder_packer.pack_folder(str(tmp_path / "src"), str(tmp_path / "train.rec"))
    assert summary["images"] == 6 and summary["identities"] == 3
    with face_pack.RecordIOReader(str(tmp_path / "train.rec")) as reader:
        header, _ = reader.read_image(0)
        assert header.flag == 2 and header.label == (7.0, 10.0)  # images 1..6, identities 7..9
        keys, labels, ranges = reader.image_keys_and_labels()
        assert keys.tolist() == [1, 2, 3, 4, 5, 6] and labels.tolist() == [0, 0, 0, 1, 2, 2]
        assert ranges == {0: (1, 4), 1: (4, 5), 2: (5, 7)}
        assert len(reader) == 10
    batches, classes = pack_face_batches(str(tmp_path / "train.rec"), batch_size=6, image_size=5, flip=False)
    assert classes == 3 and len(batches) == 1
    order = batches._order  # the epoch's permutation of the 6 images
    assert batches[0][1].tolist() == [expected[i][0] for i in order]
    for index, (_, pixels) in enumerate(expected):  # the stored pixels, exactly, as training decodes them
        np.testing.assert_array_equal(decode_image(batches.read(index), f"image {index}"), pixels)


def test_each_epoch_covers_every_image_once_in_its_seeded_order(tmp_path):
    make_faces(tmp_path / "src", counts=(4, 3, 5))
    folder_packer.pack_folder(str(tmp_path / "src"), str(tmp_path / "p.rec"))
    rec = str(tmp_path / "p.rec")

    def epoch_labels(seed, epoch):
        batches, _ = pack_face_batches(rec, batch_size=4, image_size=16, seed=seed)
        batches.set_epoch(epoch)
        return np.concatenate([batches[i][1] for i in range(len(batches))]), batches._order

    first, order = epoch_labels(3, 0)
    again, _ = epoch_labels(3, 0)
    other, other_order = epoch_labels(3, 1)
    assert np.array_equal(first, again) and sorted(order) == list(range(12)) and list(order) != list(other_order)
    assert sorted(first.tolist()) == [0] * 4 + [1] * 3 + [2] * 5


def read_every_face(rec):
    """Every image record of a pack as the training batches read it."""
    with face_pack.RecordIOReader(rec) as reader:
        return [reader.read_face(int(key)) for key in reader.image_keys_and_labels()[0]]


def test_missing_index_and_corrupt_or_truncated_packs_name_the_record_and_offset(tmp_path):
    make_faces(tmp_path / "src")
    rec = tmp_path / "train.rec"
    folder_packer.pack_folder(str(tmp_path / "src"), str(rec))
    index = face_pack.read_index(str(tmp_path / "train.idx"))
    data = rec.read_bytes()

    (tmp_path / "train.idx").rename(tmp_path / "saved.idx")
    with pytest.raises(FileNotFoundError, match=r"train\.idx not found"):
        face_pack.RecordIOReader(str(rec))
    (tmp_path / "saved.idx").rename(tmp_path / "train.idx")

    corrupt = bytearray(data)
    corrupt[index[3]] ^= 0xFF  # the magic of record 3
    rec.write_bytes(bytes(corrupt))
    with pytest.raises(recordio_codec.RecordIOError, match=f"record 3 at byte {index[3]}: bad magic"):
        read_every_face(str(rec))

    rec.write_bytes(data[: index[4] + 20])  # cut inside record 4
    with face_pack.RecordIOReader(str(rec)) as reader:
        with pytest.raises(recordio_codec.RecordIOError, match=f"record 4 at byte {index[4]}: truncated"):
            reader.read(4)

    not_image = bytearray(data)
    not_image[index[2] + 8 + 24:index[2] + 8 + 28] = b"GIF8"
    rec.write_bytes(bytes(not_image))
    with pytest.raises(recordio_codec.RecordIOError, match=f"record 2 at byte {index[2]}: .* not a JPEG or PNG"):
        read_every_face(str(rec))


def test_writer_refuses_unsorted_labels(tmp_path):
    with pytest.raises(ValueError, match="sorted by label"):
        face_pack.write_face_pack(str(tmp_path / "x.rec"), [(0, b"a"), (2, b"b")])


def test_pack_command_writes_rec_and_idx(tmp_path, capsys):
    from tf_wsoftmax.app import cli

    make_faces(tmp_path / "src", counts=(2, 2))
    assert cli.main(["pack", str(tmp_path / "src"), str(tmp_path / "faces.rec")]) == 0
    assert "4 images of 2 identities" in capsys.readouterr().out
    assert (tmp_path / "faces.idx").exists()
    assert cli.main(["pack", str(tmp_path / "src"), str(tmp_path / "faces.bin")]) == 2
    (tmp_path / "src" / "person_0" / "bad.png").write_bytes(b"GIF89a......")
    assert cli.main(["pack", str(tmp_path / "src"), str(tmp_path / "other.rec")]) == 2
    assert "bad.png" in capsys.readouterr().err
