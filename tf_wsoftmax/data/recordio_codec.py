"""The byte codec of MXNet RecordIO (dmlc-core's `recordio.h` / `recordio.cc`, `mxnet.recordio`).

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

The files (`.rec` with its `.idx`) and InsightFace's layout of them are in
`tf_wsoftmax.data.face_pack`.
"""

import dataclasses
import struct

import numpy as np

MAGIC = 0xCED7230A
_MAGIC_BYTES = struct.pack("<I", MAGIC)
_LENGTH_BITS = 29
_HEADER_FORMAT = "<IfQQ"
HEADER_SIZE = struct.calcsize(_HEADER_FORMAT)  # 24


class RecordIOError(ValueError):
    """A corrupt, truncated or unreadable RecordIO pack (the message names the record and offset)."""


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


def read_record(f, offset, name, key="?", limit=None):
    """The payload of the record starting at byte `offset` of an open `.rec` (continuation parts joined).

    Args:
        f: the file, opened in binary mode.
        offset: the record's byte offset.
        name: the file's name, for error messages.
        key: the record's key, for error messages.
        limit: read only the first `limit` payload bytes (e.g. the IRHeader).

    Returns:
        bytes.

    Raises:
        RecordIOError: a bad magic, an invalid flag or a truncated record
            (naming the file, the record and its byte offset).
    """
    f.seek(offset)
    payload = bytearray()
    position = offset
    while True:
        head = f.read(8)
        where = f"{name}: record {key} at byte {position}"
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
