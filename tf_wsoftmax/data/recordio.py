"""The names `tf_wsoftmax.data.recordio` held before it was split (kept for existing imports).

New code imports from the modules that own them: `recordio_codec` (record
bytes, `IRHeader`), `face_pack` (`.rec` + `.idx` files, InsightFace's header and
identity records, labels), `face_pack_dataset` (image records in a seeded
order, the `tf.data` pipelines) and `folder_packer` (`pack_folder`).
"""

from tf_wsoftmax.data.face_pack import RecordIOReader
from tf_wsoftmax.data.face_pack import RecordIOWarning
from tf_wsoftmax.data.face_pack import RecordIOWriter
from tf_wsoftmax.data.face_pack import pack_labels
from tf_wsoftmax.data.face_pack import read_index
from tf_wsoftmax.data.face_pack import write_face_pack
from tf_wsoftmax.data.face_pack_dataset import face_pack_epoch_datasets
from tf_wsoftmax.data.face_pack_dataset import image_records
from tf_wsoftmax.data.face_pack_dataset import recordio_dataset
from tf_wsoftmax.data.folder_packer import pack_folder
from tf_wsoftmax.data.recordio_codec import HEADER_SIZE
from tf_wsoftmax.data.recordio_codec import MAGIC
from tf_wsoftmax.data.recordio_codec import IRHeader
from tf_wsoftmax.data.recordio_codec import RecordIOError
from tf_wsoftmax.data.recordio_codec import encode_record
from tf_wsoftmax.data.recordio_codec import pack_payload
from tf_wsoftmax.data.recordio_codec import unpack_payload

__all__ = [
    "HEADER_SIZE",
    "IRHeader",
    "MAGIC",
    "RecordIOError",
    "RecordIOReader",
    "RecordIOWarning",
    "RecordIOWriter",
    "encode_record",
    "face_pack_epoch_datasets",
    "image_records",
    "pack_folder",
    "pack_labels",
    "pack_payload",
    "read_index",
    "recordio_dataset",
    "unpack_payload",
    "write_face_pack",
]
