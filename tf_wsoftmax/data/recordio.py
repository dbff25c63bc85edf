"""MXNet RecordIO image packs (InsightFace's `train.rec` + `train.idx`) without MXNet.

Layout, as in dmlc-core's `recordio.h` / `recordio.cc` and `mxnet.recordio`:

- A record is: the magic 0xced7230a (uint32, little-endian), a uint32 whose
  upper 3 bits are the continuation flag and lower 29 bits the part's length,
  the part's bytes, zero padding to 4 bytes. Flag 0 is a whole record. Where
  the payload holds the magic at a 4-byte-aligned position, the writer splits
  there and drops those 4 bytes: flag 1 starts such a record, 2 continues it,
  3 ends it; the reader puts the magic back between the parts.
- The payload of an image record is an `IRHeader` packed as `IfQQ` (flag:
  uint32, label: float32, id: uint64, id2: uint64; 24 bytes), then, when
  flag > 0, `flag` float32 labels (the header's label field is then 0),
  then the encoded image (JPEG or PNG).
- `.idx` is text, one "key<TAB>byte offset" line per record.
- InsightFace packs (CASIA-WebFace, MS1M, Glint) start with a header record
  0 whose labels are (A, B): images are records 1 .. A-1, and records
  A .. B-1 are one per identity, labels (start, end) of its images. Packs
  without that header (flag 0 at record 0) are read as every record an
  image. Either way an image's label is its own IRHeader label (the first
  of its extra labels when flag > 0), as every InsightFace reader takes it;
  the identity records are only checked against those labels.
"""

import dataclasses
import os
import struct
import warnings

import numpy as np

from tf_wsoftmax.data.images import MAX_PIXELS
from tf_wsoftmax.data.images import ImageTooLargeError
from tf_wsoftmax.data.images import check_pixels
from tf_wsoftmax.data.images import encoded_size

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_BITS = 29
_HEADER_FORMAT = "<IfQQ"
HEADER_SIZE = struct.calcsize(_HEADER_FORMAT)  # 24


class RecordIOError(ValueError):
    """A corrupt, truncated or unreadable RecordIO pack (the message names the record and offset)."""


class RecordIOWarning(UserWarning):
    """A pack whose identity records disagree with its images' own labels (the labels are used)."""


@dataclasses.dataclass(frozen=True)
class IRHeader:
    """`mxnet.recordio.IRHeader`: flag, label (a float, or a tuple of floats when flag > 0), id, id2."""

    flag: int
    label: object
    id: int = 0
    id2: int = 0


def pack_payload(header, data):
    """Packs an `IRHeader` and the encoded image bytes into a record payload (`mxnet.recordio.pack`).

    Args:
        header: `IRHeader`; a tuple / list label is stored as flag = len(label) extra floats.
        data: bytes.

    Returns:
        bytes.
    """
    label = header.label
    if isinstance(label, (tuple, list, np.ndarray)):
        labels = np.asarray(label, "<f4")
        return struct.pack(_HEADER_FORMAT, len(labels), 0.0, header.id, header.id2) + labels.tobytes() + data
    return struct.pack(_HEADER_FORMAT, header.flag, float(label), header.id, header.id2) + data


def unpack_payload(payload, where="record"):
    """Splits a record payload into (`IRHeader`, image bytes) (`mxnet.recordio.unpack`).

    Args:
        payload: bytes of one record.
        where: how error messages name the record.

    Returns:
        (IRHeader, bytes).
    """
    if len(payload) < HEADER_SIZE:
        raise RecordIOError(f"{where}: {len(payload)} bytes, shorter than the {HEADER_SIZE}-byte IRHeader")
    flag, label, id_, id2 = struct.unpack_from(_HEADER_FORMAT, payload)
    start = HEADER_SIZE
    if flag > 0:
        end = start + 4 * flag
        if end > len(payload):
            raise RecordIOError(f"{where}: IRHeader flag {flag} needs {4 * flag} label bytes; the record ends first")
        label = tuple(float(v) for v in np.frombuffer(payload[start:end], "<f4"))
        start = end
    return IRHeader(flag, label, id_, id2), payload[start:]


def encode_record(payload):
    """The bytes of one RecordIO record (split where the payload holds the magic, padded to 4 bytes)."""
    parts, start = [], 0
    for position in range(0, len(payload) - len(payload) % 4, 4):
        if payload[position:position + 4] == _MAGIC_BYTES:
            parts.append(payload[start:position])
            start = position + 4
    parts.append(payload[start:])
    out = bytearray()
    for index, part in enumerate(parts):
        if len(parts) == 1:
            flag = 0
        else:
            flag = 1 if index == 0 else (3 if index == len(parts) - 1 else 2)
        out += _MAGIC_BYTES + struct.pack("<I", (flag << _LENGTH_BITS) | len(part)) + part
    out += b"\0" * (-len(payload) % 4)
    return bytes(out)


def _index_path(rec_path):
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
        self.index = read_index(idx_path or _index_path(rec_path))
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
        """The payload of the record starting at byte `offset` (continuation parts joined).

        Args:
            offset: the record's byte offset.
            key: its key, for error messages.
            limit: read only the first `limit` payload bytes (e.g. the IRHeader).
        """
        f = self._handle()
        f.seek(offset)
        payload = bytearray()
        position = offset
        while True:
            head = f.read(8)
            where = f"{self.rec_path}: record {key} at byte {position}"
            if len(head) < 8:
                raise RecordIOError(f"{where}: truncated (the file ends inside the record header)")
            magic, word = struct.unpack("<II", head)
            if magic != MAGIC:
                raise RecordIOError(f"{where}: bad magic 0x{magic:08x} (expected 0x{MAGIC:08x}); corrupt pack or wrong .idx")
            flag, length = word >> _LENGTH_BITS, word & ((1 << _LENGTH_BITS) - 1)
            if flag > 3:
                raise RecordIOError(f"{where}: invalid continuation flag {flag}")
            padded = length + (-length % 4)
            if limit is not None and len(payload) + length >= limit:
                wanted = limit - len(payload)
                data = f.read(wanted)
                if len(data) < wanted:
                    raise RecordIOError(f"{where}: truncated (needs {wanted} bytes, {len(data)} left in the file)")
                return bytes(payload + data)
            data = f.read(padded)
            if len(data) < padded:
                raise RecordIOError(
                    f"{where}: truncated (needs {padded} bytes, {len(data)} left in the file)"
                )
            payload += data[:length]
            position += 8 + padded
            if flag in (0, 3):
                return bytes(payload)
            payload += _MAGIC_BYTES

    def read(self, key):
        """The payload of record `key`."""
        if key not in self.index:
            raise KeyError(f"{self.rec_path} has no record {key} (keys {min(self.index)}..{max(self.index)})")
        return self.read_at(self.index[key], key)

    def read_image(self, key):
        """(IRHeader, encoded image bytes) of record `key`."""
        return unpack_payload(self.read(key), f"{self.rec_path}: record {key} at byte {self.index[key]}")

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
        self._idx = open(idx_path or _index_path(rec_path), "w")

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




def image_records(rec_path, shuffle_seed=None, epoch=0, num_shards=1, shard_index=0):
    """Yields (key, encoded image bytes, label) of a pack's image records.

    Args:
        rec_path: the `.rec` file (its `.idx` beside it).
        shuffle_seed: None keeps the stored order; an int gives a permutation
            seeded by (shuffle_seed, epoch), the same on every worker.
        epoch: the epoch whose permutation to use.
        num_shards, shard_index: this worker's share (every num_shards-th
            record of the permuted order), for `tf.distribute` workers.

    Raises:
        RecordIOError: a corrupt or truncated record, or one whose payload is
            not a JPEG / PNG image (naming the record and its byte offset).
    """
    with RecordIOReader(rec_path) as reader:
        keys, labels = _selected_images(reader, shuffle_seed, epoch, num_shards, shard_index)
        yield from _read_images(reader, keys, labels)


def _selected_images(reader, shuffle_seed, epoch, num_shards, shard_index, images=None):
    """(keys, labels) of this worker's share of the epoch's order (see `image_records`).

    `images`: the pack's (keys, labels) if already read (`image_keys_and_labels`).
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} is not in [0, num_shards={num_shards})")
    keys, labels = images if images is not None else reader.image_keys_and_labels()[:2]
    order = np.arange(len(keys))
    if shuffle_seed is not None:
        order = np.random.default_rng([shuffle_seed, epoch]).permutation(len(keys))
    chosen = order[shard_index::num_shards]
    return keys[chosen], labels[chosen]


def _read_images(reader, keys, labels, max_pixels=MAX_PIXELS):
    """Yields (key, encoded image bytes, label), refusing payloads that are not JPEG / PNG or whose
    header states more than `max_pixels` pixels (checked before anything decodes them)."""
    for key, label in zip(keys.tolist(), labels.tolist()):
        _, data = reader.read_image(key)
        where = f"{reader.rec_path}: record {key} at byte {reader.index[key]}"
        size = encoded_size(data)  # None unless a JPEG or PNG header
        if size is None:
            raise RecordIOError(
                f"{where}: the payload after the IRHeader is not a JPEG or PNG image (starts with {data[:4]!r})"
            )
        try:
            check_pixels(*size, where, max_pixels)
        except ImageTooLargeError as error:
            raise RecordIOError(str(error)) from None
        yield key, data, label


def recordio_dataset(
    rec_path, shuffle_seed=None, epoch=0, num_shards=1, shard_index=0, decode=True, num_parallel_calls=None,
    images=None,
):
    """A `tf.data` pipeline over a pack's images: (uint8 image (H, W, 3), int64 label).

    The pixels are exactly the stored ones (decoded, not resized or
    standardised; that belongs to the training pipeline on top): JPEG with
    the accurate integer DCT, the pixels PIL, OpenCV and MXNet give
    (`decode_stored_image`); each image's header size is checked against
    `MAX_PIXELS` before it is decoded (an error naming the record). Records are
    read in order (or in a seeded permutation) by one reader and decoded in
    parallel; the result is prefetched.

    Args:
        rec_path: the `.rec` file (its `.idx` beside it).
        shuffle_seed, epoch, num_shards, shard_index: see `image_records`.
        decode: False yields the encoded bytes (a string tensor) instead.
        num_parallel_calls: decoding parallelism. Defaults to tf.data.AUTOTUNE.
        images: the pack's (keys, labels) from `image_keys_and_labels`, to
            skip reading the headers again (one read per run, not per epoch).

    Returns:
        A `tf.data.Dataset` of (image, label).

    Example:
        dataset = recordio_dataset("faces/train.rec", shuffle_seed=0).batch(128)
    """
    import tensorflow as tf

    reader = RecordIOReader(rec_path)  # the index and the selection are read once, here
    with reader:
        keys, labels = _selected_images(reader, shuffle_seed, epoch, num_shards, shard_index, images)

    def generate():
        with reader:  # reopens the file; closed when the pass ends
            for _, data, label in _read_images(reader, keys, labels):
                yield data, label

    dataset = tf.data.Dataset.from_generator(
        generate,
        output_signature=(tf.TensorSpec((), tf.string), tf.TensorSpec((), tf.int64)),
    ).apply(tf.data.experimental.assert_cardinality(len(keys)))
    if decode:
        from tf_wsoftmax.data.face_folders import decode_stored_image

        dataset = dataset.map(
            lambda data, label: (decode_stored_image(data), label),
            num_parallel_calls=num_parallel_calls or tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def face_pack_epoch_datasets(rec_path, batch_size, image_size=112, seed=0, flip=True):
    """`epoch -> Dataset` of training faces from a pack, like `face_epoch_datasets` for folders.

    Each epoch reads the pack in the permutation seeded by (seed, epoch),
    resizes to `image_size` where the stored side differs (InsightFace's
    packs hold 112 x 112 crops), flips and standardises (`training_face`), and
    batches with a fixed batch size.

    Args:
        rec_path: the `.rec` pack.
        batch_size: batch size.
        image_size: the model's input side. Defaults to 112.
        seed: shuffling / flipping seed.
        flip: random horizontal flip. Defaults to True.

    Returns:
        A callable epoch -> batched dataset of (images (B, S, S, 3) float32, int32 labels).
    """
    import tensorflow as tf

    from tf_wsoftmax.data.face_folders import training_face

    def resize(image):
        def resized():
            values = tf.image.resize(image, (image_size, image_size), antialias=True)
            return tf.cast(tf.clip_by_value(tf.round(values), 0, 255), tf.uint8)

        shape = tf.shape(image)
        same = tf.logical_and(tf.equal(shape[0], image_size), tf.equal(shape[1], image_size))
        return tf.cond(same, lambda: image, resized)

    with RecordIOReader(rec_path) as reader:
        images = reader.image_keys_and_labels()[:2]  # once, for every epoch

    def make(epoch):
        def prepare(index, example):
            image, label = example
            image = tf.ensure_shape(resize(image), (image_size, image_size, 3))
            return training_face(image, index, seed, epoch, flip), tf.cast(label, tf.int32)

        dataset = recordio_dataset(rec_path, shuffle_seed=seed, epoch=epoch, images=images).enumerate()
        dataset = dataset.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    return make


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


def _check_source_image(path, max_pixels):
    """Reads the first bytes of an image file; raises ValueError naming it unless a JPEG / PNG within the limit."""
    with open(path, "rb") as f:
        head = f.read(65536)
    size = encoded_size(head)  # None unless a JPEG or PNG header
    if size is None:
        raise ValueError(f"{path}: packs hold JPEG or PNG images; convert this file first (starts with {head[:4]!r})")
    check_pixels(*size, path, max_pixels)


def pack_folder(src, rec_path, min_images=1, overwrite=False, max_pixels=MAX_PIXELS):
    """Packs identity folders (SRC/<identity>/<image>) into an InsightFace-layout `.rec` + `.idx`.

    The image files' bytes are stored as they are (JPEG or PNG, as
    InsightFace's packs hold them); identities are numbered in sorted folder
    order. Nothing is written before every source file has been checked
    (a JPEG / PNG whose header states at most `max_pixels`). The pack is
    written to temporary files in the destination folder and renamed into
    place at the end, so a failed, killed or full-disk run leaves an
    existing pack as it was and no half-written one.

    Args:
        src: the root of the identity folders.
        rec_path: the `.rec` to write.
        min_images: skip identities with fewer images.
        overwrite: replace an existing pack. Defaults to False.
        max_pixels: the largest image accepted. Defaults to `MAX_PIXELS`.

    Returns:
        dict with images, identities, and the identity names in label order.

    Raises:
        FileExistsError: the pack (or its index) exists and `overwrite` is False.
        ValueError: a source file that is not a JPEG / PNG, or too large (naming it).
    """
    from tf_wsoftmax.data.face_folders import list_identity_folders

    idx_path = _index_path(rec_path)
    existing = [p for p in (rec_path, idx_path) if os.path.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(f"{' and '.join(existing)} exist; pass overwrite=True (tf-wsoftmax pack --overwrite)")
    paths, labels, names = list_identity_folders(src, min_images=min_images)
    for path in paths:
        _check_source_image(path, max_pixels)

    def samples():
        for path, label in zip(paths, labels):
            with open(path, "rb") as f:
                yield label, f.read()

    temporary = f"{rec_path}.partial-{os.getpid()}.rec"
    try:
        images, identities = write_face_pack(temporary, samples())
        os.replace(temporary, rec_path)
        os.replace(_index_path(temporary), idx_path)
    finally:
        for leftover in (temporary, _index_path(temporary)):
            if os.path.exists(leftover):
                os.remove(leftover)
    return {"images": images, "identities": identities, "names": list(names)}
