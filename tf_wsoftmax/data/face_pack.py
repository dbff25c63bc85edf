"""InsightFace's face packs: a RecordIO `.rec` with its `.idx`, the header and identity records.

- `.idx` is text, one "key<TAB>byte offset" line per record; the records'
  bytes are `tf_wsoftmax.data.recordio_codec`'s.
- InsightFace packs (CASIA-WebFace, MS1M, Glint) start with a header record
  0 whose labels are (A, B): images are records 1 .. A-1, and records
  A .. B-1 are one per identity, labels (start, end) of its images. Packs
  without that header (flag 0 at record 0) are read as every record an
  image. Either way an image's label is its own IRHeader label (the first
  of its extra labels when flag > 0), as every InsightFace reader takes it;
  the identity records are only checked against those labels.

Reading the images as training batches: `tf_wsoftmax.data.pack_face_batches`;
packing identity folders: `tf_wsoftmax.data.folder_packer`.
"""

import os
import struct
import warnings

import numpy as np

from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import ImageTooLargeError
from tf_wsoftmax.data.images import check_pixels
from tf_wsoftmax.data.images import encoded_size
from tf_wsoftmax.data.recordio_codec import HEADER_SIZE
from tf_wsoftmax.data.recordio_codec import IRHeader
from tf_wsoftmax.data.recordio_codec import RecordIOError
from tf_wsoftmax.data.recordio_codec import encode_record
from tf_wsoftmax.data.recordio_codec import pack_payload
from tf_wsoftmax.data.recordio_codec import read_record
from tf_wsoftmax.data.recordio_codec import unpack_payload


class RecordIOWarning(UserWarning):
    """A pack whose identity records disagree with its images' own labels (the labels are used)."""


def index_path(rec_path):
    """The `.idx` beside a `.rec` (same name, `.idx` extension)."""
    return os.path.splitext(rec_path)[0] + ".idx"


def read_index(idx_path):
    """Reads a `.idx` file: {key: byte offset}, in file order.

    Raises:
        FileNotFoundError: no such file (naming the expected path).
        RecordIOError: a line that is not "key<TAB>offset", a key listed
            twice, a negative offset, or an index without any record (an
            empty file, e.g. from a pack that was killed).
    """
    if not os.path.exists(idx_path):
        raise FileNotFoundError(
            f"RecordIO index {idx_path} not found: a .rec pack needs its .idx next to it "
            "(tf-wsoftmax pack writes both; InsightFace ships train.rec with train.idx)"
        )
    index = {}
    with open(idx_path) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                key, offset = int(fields[0]), int(fields[1])
            except (ValueError, IndexError):
                raise RecordIOError(f"{idx_path} line {number}: expected 'key<TAB>offset', found {line.strip()!r}")
            if key in index:
                raise RecordIOError(f"{idx_path} line {number}: key {key} is listed twice (offsets {index[key]} and {offset})")
            if offset < 0:
                raise RecordIOError(f"{idx_path} line {number}: negative offset {offset}")
            index[key] = offset
    if not index:
        raise RecordIOError(f"{idx_path} lists no record (an empty index: an unfinished or killed pack?)")
    return index
class RecordIOReader:
    """Random access to the records of a `.rec` pack through its `.idx`.

    Args:
        rec_path: the `.rec` file.
        idx_path: its index. Defaults to the same name with `.idx`.

    Example:
        reader = RecordIOReader("train.rec")
        header, image_bytes = reader.read_image(1)
    """

    def __init__(self, rec_path, idx_path=None):
        if not os.path.exists(rec_path):
            raise FileNotFoundError(f"RecordIO pack {rec_path} not found")
        self.rec_path = rec_path
        self.index = read_index(idx_path or index_path(rec_path))
        self.size = os.path.getsize(rec_path)
        self._file = None

    def __len__(self):
        return len(self.index)

    @property
    def keys(self):
        """The record keys in index order."""
        return list(self.index)

    def _handle(self):
        if self._file is None:
            self._file = open(self.rec_path, "rb")
        return self._file

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def read_at(self, offset, key="?", limit=None):
        """The payload of the record starting at byte `offset` (`recordio_codec.read_record`)."""
        return read_record(self._handle(), offset, self.rec_path, key, limit)

    def read(self, key):
        """The payload of record `key`."""
        if key not in self.index:
            raise KeyError(f"{self.rec_path} has no record {key} (keys {min(self.index)}..{max(self.index)})")
        return self.read_at(self.index[key], key)

    def read_image(self, key):
        """(IRHeader, encoded image bytes) of record `key`."""
        return unpack_payload(self.read(key), f"{self.rec_path}: record {key} at byte {self.index[key]}")

    def read_face(self, key, max_pixels=MAX_PIXELS):
        """The encoded JPEG / PNG bytes of image record `key`, their header's size checked first.

        Raises:
            RecordIOError: a corrupt or truncated record, a payload that is not
                a JPEG / PNG image, or one whose header states more than
                `max_pixels` pixels (naming the record and its byte offset).
        """
        _, data = self.read_image(key)
        where = f"{self.rec_path}: record {key} at byte {self.index[key]}"
        size = encoded_size(data)  # None unless a JPEG or PNG header
        if size is None:
            raise RecordIOError(f"{where}: the payload after the IRHeader is not a JPEG or PNG image (starts with {data[:4]!r})")
        try:
            check_pixels(*size, where, max_pixels)
        except ImageTooLargeError as error:
            raise RecordIOError(str(error)) from None
        return data

    def read_header(self, key):
        """The IRHeader of record `key`, reading only its first bytes (not the image)."""
        if key not in self.index:
            raise KeyError(f"{self.rec_path} has no record {key}")
        where = f"{self.rec_path}: record {key} at byte {self.index[key]}"
        payload = self.read_at(self.index[key], key, limit=HEADER_SIZE)
        if len(payload) < HEADER_SIZE:
            raise RecordIOError(f"{where}: {len(payload)} bytes, shorter than the {HEADER_SIZE}-byte IRHeader")
        flag = struct.unpack_from("<I", payload)[0]
        if flag > 0:
            payload = self.read_at(self.index[key], key, limit=HEADER_SIZE + 4 * flag)
        return unpack_payload(payload, where)[0]

    def image_keys_and_labels(self):
        """The image records and their labels: each image's own IRHeader label, as InsightFace reads it.

        A pack with InsightFace's header record 0 (flag > 0, labels (A, B))
        has its images at keys 1 .. A-1 and one identity record per identity
        at keys A .. B-1, each with the (start, end) key range of its
        images. The labels always come from the images' own headers; the
        identity ranges are checked against them and against the image
        keys, and every disagreement (a gap, an overlap, a range out of
        bounds or over images of another label) is reported as a warning
        naming the identity record and its range. Without the header record
        every record is an image.

        Only the IRHeaders are read (not the images), so memory stays
        proportional to the number of records the `.idx` lists.

        Returns:
            (keys (N,) int64, labels (N,) int64, identity ranges
            {identity: (start, end)} or None).

        Raises:
            RecordIOError: a header record that claims more records than the
                `.idx` lists, an image key or identity record missing from
                the `.idx`, or a label that is negative, fractional or not
                finite (naming the record).
        """
        first = min(self.index)
        header = self.read_header(first)
        ranges = None
        if header.flag > 0:
            if len(header.label) < 2:
                raise RecordIOError(f"{self.rec_path}: header record {first} has {len(header.label)} labels, not (A, B)")
            image_end, identity_end = _whole(header.label[0], self, first), _whole(header.label[1], self, first)
            claimed = identity_end - first
            if not first + 1 <= image_end <= identity_end or claimed > len(self.index):
                raise RecordIOError(
                    f"{self.rec_path}: header record {first} claims images {first + 1}..{image_end - 1} and identity "
                    f"records {image_end}..{identity_end - 1}, but the .idx lists {len(self.index)} records"
                )
            keys = np.arange(first + 1, image_end, dtype=np.int64)
            missing = [k for k in range(first + 1, identity_end) if k not in self.index]
            if missing:
                raise RecordIOError(
                    f"{self.rec_path}: records {missing[:5]}{' ...' if len(missing) > 5 else ''} of the header "
                    f"record's range are missing from the .idx"
                )
            ranges = {
                number: tuple(_whole(v, self, key) for v in self.read_header(key).label[:2])
                for number, key in enumerate(range(image_end, identity_end))
            }
        else:
            keys = np.asarray(self.keys, np.int64)
        labels = np.asarray([_whole(_first_label(self.read_header(int(k))), self, int(k)) for k in keys], np.int64)
        if ranges is not None:
            _check_identity_ranges(self.rec_path, ranges, keys, labels, image_end)
        return keys, labels, ranges

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _first_label(header):
    """The image's label: the header's label, or the first of its extra labels (flag > 0)."""
    return header.label[0] if isinstance(header.label, tuple) else header.label


def _whole(value, reader, key):
    """A stored float label as an int, refusing negative, fractional and non-finite ones."""
    if not np.isfinite(value) or value < 0 or value != int(value):
        raise RecordIOError(
            f"{reader.rec_path}: record {key} at byte {reader.index[key]}: label {value!r} is not a whole "
            "number >= 0 (labels are class ids; a fractional label is not truncated)"
        )
    return int(value)


def _check_identity_ranges(rec_path, ranges, keys, labels, image_end):
    """Warns, naming the identity record and range, where the identity records disagree with the images."""
    first_image = int(keys[0]) if len(keys) else image_end
    problems = []
    covered = np.zeros(len(keys), bool)
    for identity, (start, end) in ranges.items():
        record = f"identity record {image_end + identity} (identity {identity}, range {start}..{end - 1})"
        if not first_image <= start < end <= image_end:
            problems.append(f"{record} is outside the images {first_image}..{image_end - 1} or empty")
            continue
        span = slice(start - first_image, end - first_image)
        if covered[span].any():
            problems.append(f"{record} overlaps another identity's range")
        covered[span] = True
        others = sorted(set(labels[span].tolist()) - {identity})
        if others:
            problems.append(f"{record} holds images labelled {others[:5]} in their own headers")
    if not covered.all():
        gap = int(keys[np.flatnonzero(~covered)[0]])
        problems.append(f"{int((~covered).sum())} images are in no identity range (the first: record {gap})")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        warnings.warn(
            f"{rec_path}: the identity records disagree with the images' own labels, which are used: {shown}",
            RecordIOWarning,
            stacklevel=3,
        )


class RecordIOWriter:
    """Writes a `.rec` pack and its `.idx` (`mxnet.recordio.MXIndexedRecordIO` in write mode).

    Args:
        rec_path: the `.rec` file to create.
        idx_path: its index. Defaults to the same name with `.idx`.
    """

    def __init__(self, rec_path, idx_path=None):
        self.rec_path = rec_path
        self._rec = open(rec_path, "wb")
        self._idx = open(idx_path or index_path(rec_path), "w")

    def write(self, key, payload):
        """Appends record `key` with `payload` (bytes)."""
        self._idx.write(f"{key}\t{self._rec.tell()}\n")
        self._rec.write(encode_record(payload))

    def close(self):
        self._rec.close()
        self._idx.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_face_pack(rec_path, samples):
    """Writes an InsightFace-layout pack: header record 0, the images, one record per identity.

    Streams: images are written as they come; header record 0 is written
    first with placeholder labels and rewritten in place at the end (its size
    does not change).

    Args:
        rec_path: the `.rec` to create (its `.idx` is written beside it).
        samples: iterable of (label, encoded image bytes) sorted by label,
            labels 0 .. K-1 (every identity present).

    Returns:
        (number of images, number of identities).
    """
    counts = []
    with RecordIOWriter(rec_path) as writer:
        writer.write(0, pack_payload(IRHeader(2, (0, 0)), b""))
        key = 0
        for key, (label, data) in enumerate(samples, 1):
            label = int(label)
            if label == len(counts):
                counts.append(0)
            elif label != len(counts) - 1:
                raise ValueError(
                    f"sample {key}: label {label} after label {len(counts) - 1}; samples must be sorted by "
                    "label with labels 0 .. K-1 all present"
                )
            counts[-1] += 1
            writer.write(key, pack_payload(IRHeader(0, float(label), key), data))
        image_end = key + 1
        start = 1
        for identity, count in enumerate(counts):
            writer.write(image_end + identity, pack_payload(IRHeader(2, (start, start + count)), b""))
            start += count
        writer._rec.seek(0)
        writer._rec.write(encode_record(pack_payload(IRHeader(2, (image_end, image_end + len(counts))), b"")))
    return image_end - 1, len(counts)


def pack_labels(rec_path, allow_sparse_labels=False):
    """(labels (N,) int32, number of classes K) of a pack's images, labels as stored.

    K is the largest label + 1: labels are class ids and are never
    renumbered. Labels that skip ids (fewer distinct labels than K) warn: the
    head gets classes without images. More classes than images (e.g. one
    label of 3e6 in a small pack, which would build a 3,000,001-class head)
    is an error unless `allow_sparse_labels`.

    Args:
        rec_path: the `.rec` pack.
        allow_sparse_labels: accept K larger than the number of images.

    Returns:
        (labels int32 (N,), K).
    """
    with RecordIOReader(rec_path) as reader:
        _, labels, _ = reader.image_keys_and_labels()
    if not len(labels):
        raise RecordIOError(f"{rec_path} holds no image records")
    classes, distinct = int(labels.max()) + 1, len(np.unique(labels))
    if classes > len(labels) and not allow_sparse_labels:
        raise RecordIOError(
            f"{rec_path}: the largest label is {classes - 1}, so a head would need {classes} classes for "
            f"{len(labels)} images ({distinct} distinct labels). Fix the labels, or allow it explicitly "
            "(allow_sparse_labels=True, train-faces --allow-sparse-labels)."
        )
    if distinct < classes:
        warnings.warn(
            f"{rec_path}: {distinct} distinct labels in 0..{classes - 1}: {classes - distinct} classes have no "
            "images (labels are used as stored, not renumbered)",
            RecordIOWarning,
            stacklevel=2,
        )
    if classes >= 2**31:
        raise RecordIOError(f"{rec_path}: label {classes - 1} does not fit the int32 class ids")
    return labels.astype(np.int32), classes
