"""tf.data pipelines and dataset sources."""

from tf_wsoftmax.data.cifar import load_cifar_dataset
from tf_wsoftmax.data.digits import load_digits_split
from tf_wsoftmax.data.idx import DataFileError
from tf_wsoftmax.data.idx import load_idx_dataset
from tf_wsoftmax.data.idx import read_idx
from tf_wsoftmax.data.pipelines import augment_flip_crop
from tf_wsoftmax.data.pipelines import channel_statistics
from tf_wsoftmax.data.pipelines import epoch_datasets
from tf_wsoftmax.data.pipelines import eval_dataset
from tf_wsoftmax.data.pipelines import make_normalizer
from tf_wsoftmax.data.sources import DATASETS
from tf_wsoftmax.data.sources import LoadedDataset
from tf_wsoftmax.data.recordio import RecordIOError
from tf_wsoftmax.data.recordio import RecordIOReader
from tf_wsoftmax.data.recordio import RecordIOWriter
from tf_wsoftmax.data.recordio import pack_folder
from tf_wsoftmax.data.recordio import recordio_dataset
from tf_wsoftmax.data.sources import load_dataset
from tf_wsoftmax.data.verification_bin import VerificationFileError
from tf_wsoftmax.data.verification_bin import load_verification_bin
from tf_wsoftmax.data.verification_bin import write_verification_bin

__all__ = [
    "DATASETS",
    "DataFileError",
    "LoadedDataset",
    "RecordIOError",
    "RecordIOReader",
    "RecordIOWriter",
    "VerificationFileError",
    "augment_flip_crop",
    "channel_statistics",
    "epoch_datasets",
    "eval_dataset",
    "load_cifar_dataset",
    "load_digits_split",
    "load_dataset",
    "load_idx_dataset",
    "load_verification_bin",
    "make_normalizer",
    "pack_folder",
    "read_idx",
    "recordio_dataset",
    "write_verification_bin",
]
