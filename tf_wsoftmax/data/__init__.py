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
from tf_wsoftmax.data.sources import load_dataset

__all__ = [
    "DATASETS",
    "DataFileError",
    "LoadedDataset",
    "augment_flip_crop",
    "channel_statistics",
    "epoch_datasets",
    "eval_dataset",
    "load_cifar_dataset",
    "load_digits_split",
    "load_dataset",
    "load_idx_dataset",
    "make_normalizer",
    "read_idx",
]
