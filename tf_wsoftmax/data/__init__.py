"""Dataset sources (NumPy), tf.data pipelines, NumPy batches for Keras `fit`, face packs.

Names load on first use (PEP 562): the sources (IDX, CIFAR, digits) and
`EpochBatches` import no TensorFlow, so the experiment runner works on JAX
where TensorFlow is not installed; the tf.data pipelines, RecordIO packs and
face folders need TensorFlow.
"""

from tf_wsoftmax._lazy import lazy_attributes

_LAZY = {
    "DATASETS": "tf_wsoftmax.data.sources",
    "DataFileError": "tf_wsoftmax.data.idx",
    "ArrayBatches": "tf_wsoftmax.data.arrays",
    "EpochBatches": "tf_wsoftmax.data.arrays",
    "LoadedDataset": "tf_wsoftmax.data.sources",
    "RecordIOError": "tf_wsoftmax.data.recordio_codec",
    "RecordIOReader": "tf_wsoftmax.data.face_pack",
    "RecordIOWriter": "tf_wsoftmax.data.face_pack",
    "VerificationFileError": "tf_wsoftmax.data.verification_bin",
    "augment_flip_crop": "tf_wsoftmax.data.pipelines",
    "channel_statistics": "tf_wsoftmax.data.arrays",
    "epoch_datasets": "tf_wsoftmax.data.pipelines",
    "eval_dataset": "tf_wsoftmax.data.pipelines",
    "load_cifar_dataset": "tf_wsoftmax.data.cifar",
    "load_digits_split": "tf_wsoftmax.data.digits",
    "load_dataset": "tf_wsoftmax.data.sources",
    "load_idx_dataset": "tf_wsoftmax.data.idx",
    "load_verification_bin": "tf_wsoftmax.data.verification_bin",
    "make_normalizer": "tf_wsoftmax.data.pipelines",
    "pack_folder": "tf_wsoftmax.data.folder_packer",
    "read_idx": "tf_wsoftmax.data.idx",
    "recordio_dataset": "tf_wsoftmax.data.face_pack_dataset",
    "standardize_array": "tf_wsoftmax.data.arrays",
    "write_verification_bin": "tf_wsoftmax.data.verification_bin",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, {name: (module, name) for name, module in _LAZY.items()})
