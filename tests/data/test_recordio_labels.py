"""RecordIO packs whose metadata disagrees with their images: labels from the images' own headers,
every disagreement reported, nothing from uninitialised memory, one pixel rule with PIL."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image

from tests.data.test_recordio import png_bytes
from tf_wsoftmax.data import face_pack
from tf_wsoftmax.data.images import decode_image
from tf_wsoftmax.data import folder_packer
from tf_wsoftmax.data.face_pack import RecordIOWarning
from tf_wsoftmax.data.recordio_codec import IRHeader
from tf_wsoftmax.data.recordio_codec import RecordIOError
from tf_wsoftmax.data.recordio_codec import pack_payload


def write_pack(path, labels, ranges=None, keys_in_index=None):
    """A pack of PNGs with the given header labels; `ranges` adds InsightFace's header and identity
    records (as face2rec2 writes them, whatever they say)."""
    path = str(path)
    with face_pack.RecordIOWriter(path) as writer:
        first_image = 1 if ranges is not None else 0
        image_end = first_image + len(labels)
        if ranges is not None:
            writer.write(0, pack_payload(IRHeader(2, (image_end, image_end + len(ranges))), b""))
        for offset, label in enumerate(labels):
            writer.write(first_image + offset, pack_payload(IRHeader(0, float(label), offset), png_bytes(offset)[1]))
        for number, (start, end) in enumerate(ranges or []):
            writer.write(image_end + number, pack_payload(IRHeader(2, (start, end)), b""))
    return path


def read(path):
    with face_pack.RecordIOReader(path) as reader:
        return reader.image_keys_and_labels()


def test_interleaved_face2rec2_pack_keeps_each_images_label(tmp_path):
    """An .lst with labels 0,0,1,1,0,0: identity ranges cannot describe it; the image headers can."""
    path = write_pack(tmp_path / "lst.rec", [0, 0, 1, 1, 0, 0], ranges=[(1, 3), (3, 5), (5, 7)])
    with pytest.warns(RecordIOWarning, match=r"identity record 9 \(identity 2, range 5..6\) holds images labelled \[0\]"):
        keys, labels, _ = read(path)
    assert keys.tolist() == [1, 2, 3, 4, 5, 6] and labels.tolist() == [0, 0, 1, 1, 0, 0]
    with pytest.warns(RecordIOWarning):
        assert face_pack.pack_labels(path)[1] == 2


def test_gapped_overlapping_and_out_of_bound_ranges_warn_and_never_invent_labels(tmp_path):
    path = write_pack(tmp_path / "gap.rec", [0, 1, 2], ranges=[(1, 2), (3, 4)])  # image 2 in no range
    with pytest.warns(RecordIOWarning, match="1 images are in no identity range \\(the first: record 2\\)"):
        assert read(path)[1].tolist() == [0, 1, 2]
    path = write_pack(tmp_path / "zero.rec", [0, 0, 1], ranges=[(0, 3), (3, 4)])  # starts at the header
    with pytest.warns(RecordIOWarning, match="range 0..2\\) is outside the images 1..3"):
        assert read(path)[1].tolist() == [0, 0, 1]
    path = write_pack(tmp_path / "overlap.rec", [0, 0, 1], ranges=[(1, 3), (2, 4)])
    with pytest.warns(RecordIOWarning, match="overlaps another identity's range"):
        read(path)
    path = write_pack(tmp_path / "past.rec", [0, 1], ranges=[(1, 2), (2, 9)])
    with pytest.warns(RecordIOWarning, match="outside the images 1..2"):
        read(path)
    path = write_pack(tmp_path / "fine.rec", [0, 0, 1], ranges=[(1, 3), (3, 4)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read(path)[2] == {0: (1, 3), 1: (3, 4)}


def test_header_claiming_more_records_than_the_index_is_an_error_without_allocating(tmp_path):
    path = str(tmp_path / "claims.rec")
    with face_pack.RecordIOWriter(path) as writer:
        writer.write(0, pack_payload(IRHeader(2, (1e8, 1e8 + 5)), b""))
        writer.write(1, pack_payload(IRHeader(0, 0.0), png_bytes(0)[1]))
    with pytest.raises(RecordIOError, match="claims images 1..99999999 .* the .idx lists 2 records"):
        read(path)


def test_fractional_negative_and_sparse_labels(tmp_path):
    with pytest.raises(RecordIOError, match=r"record 1 at byte \d+: label 0.69999"):
        read(write_pack(tmp_path / "frac.rec", [0, 0.7]))
    with pytest.raises(RecordIOError, match="label -1.0"):
        read(write_pack(tmp_path / "negative.rec", [0, -1]))
    huge = write_pack(tmp_path / "huge.rec", [0, 1, 3e6])
    with pytest.raises(RecordIOError, match="a head would need 3000001 classes for 3 images"):
        face_pack.pack_labels(huge)
    with pytest.warns(RecordIOWarning, match="2999998 classes have no images"):
        assert face_pack.pack_labels(huge, allow_sparse_labels=True)[1] == 3000001
    assert face_pack.pack_labels(write_pack(tmp_path / "plain.rec", [1, 0, 1]))[1] == 2


def test_index_with_duplicate_keys_or_no_record_is_an_error(tmp_path):
    path = write_pack(tmp_path / "dup.rec", [0, 1])
    idx = tmp_path / "dup.idx"
    idx.write_text(idx.read_text() + "1\t0\n")
    with pytest.raises(RecordIOError, match="key 1 is listed twice"):
        face_pack.RecordIOReader(path)
    idx.write_text("")
    with pytest.raises(RecordIOError, match="lists no record"):
        face_pack.RecordIOReader(path)


def jpeg_bytes(seed, quality, size=(40, 32)):
    rng = np.random.default_rng(seed)
    smooth = np.kron(rng.integers(0, 256, size=(size[1] // 8, size[0] // 8, 3)), np.ones((8, 8, 1)))
    pixels = np.clip(smooth + rng.normal(0, 20, smooth.shape), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.mark.parametrize("quality", [50, 75, 95])
def test_pack_jpeg_pixels_equal_pil(tmp_path, quality):
    """TensorFlow's fast DCT differs from PIL / OpenCV / MXNet; the pack reader decodes as they do."""
    encoded = [jpeg_bytes(seed, quality) for seed in range(3)]
    path = str(tmp_path / "jpeg.rec")
    with face_pack.RecordIOWriter(path) as writer:
        for key, data in enumerate(encoded):
            writer.write(key, pack_payload(IRHeader(0, float(key)), data))
    with face_pack.RecordIOReader(path) as reader:
        images = [decode_image(reader.read_face(key), f"record {key}") for key in range(3)]
    for image, data in zip(images, encoded):
        np.testing.assert_array_equal(image, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def test_an_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path):
    from tests.data.test_verification_bin import png_header_only

    path = str(tmp_path / "big.rec")
    with face_pack.RecordIOWriter(path) as writer:
        writer.write(0, pack_payload(IRHeader(0, 0.0), png_bytes(0)[1]))
        writer.write(1, pack_payload(IRHeader(0, 1.0), png_header_only(16000, 16000)))
    with face_pack.RecordIOReader(path) as reader:
        with pytest.raises(RecordIOError, match="record 1 at byte .*16000 x 16000 = 256000000 pixels"):
            reader.read_face(1)


def test_pack_validates_first_never_overwrites_and_never_destroys(tmp_path):
    from tests.data.test_recordio import make_faces

    make_faces(tmp_path / "src", counts=(2, 1))
    rec = str(tmp_path / "train.rec")
    folder_packer.pack_folder(str(tmp_path / "src"), rec)
    before = (tmp_path / "train.rec").read_bytes(), (tmp_path / "train.idx").read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        folder_packer.pack_folder(str(tmp_path / "src"), rec)
    gif = tmp_path / "src" / "person_1" / "zz.png"  # named .png, holds a GIF: found only by reading it
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(buffer, format="GIF")
    gif.write_bytes(buffer.getvalue())
    with pytest.raises(ValueError, match="zz.png: packs hold JPEG or PNG"):
        folder_packer.pack_folder(str(tmp_path / "src"), rec, overwrite=True)
    assert ((tmp_path / "train.rec").read_bytes(), (tmp_path / "train.idx").read_bytes()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "train.idx", "train.rec"]  # no partial files
    gif.unlink()
    (tmp_path / "src" / "person_2").mkdir()
    (tmp_path / "src" / "person_2" / "a.png").write_bytes(png_bytes(9)[1])
    assert folder_packer.pack_folder(str(tmp_path / "src"), rec, overwrite=True)["identities"] == 3
    assert face_pack.pack_labels(rec)[1] == 3
