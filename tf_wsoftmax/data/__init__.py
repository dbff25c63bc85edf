"""Dataset sources (NumPy), the batches every training run reads (`EpochBatches`, `FaceBatches`), face packs.

Names load on first use (PEP 562): the sources (IDX, CIFAR, digits), the
batches, the pack reader and the fingerprints import no TensorFlow, so every
run works on JAX where TensorFlow is not installed.
"""

from tf_wsoftmax._lazy import lazy_attributes

_LAZY = {
    "DATASETS": "tf_wsoftmax.data.sources",
    "DataFileError": "tf_wsoftmax.data.idx",
    "ArrayBatches": "tf_wsoftmax.data.arrays",
    "EpochBatches": "tf_wsoftmax.data.arrays",
    "EpochWindows": "tf_wsoftmax.data.arrays",
    "FaceBatches": "tf_wsoftmax.data.face_batches",
    "array_fingerprint": "tf_wsoftmax.data.fingerprint",
    "folder_face_batches": "tf_wsoftmax.data.face_batches",
    "list_identity_folders": "tf_wsoftmax.data.identity_folders",
    "pack_face_batches": "tf_wsoftmax.data.face_batches",
    "pack_labels": "tf_wsoftmax.data.face_pack",
    "LoadedDataset": "tf_wsoftmax.data.sources",
    "RecordIOError": "tf_wsoftmax.data.recordio_codec",
    "RecordIOReader": "tf_wsoftmax.data.face_pack",
    "RecordIOWriter": "tf_wsoftmax.data.face_pack",
    "VerificationFileError": "tf_wsoftmax.data.verification_bin",
    "channel_statistics": "tf_wsoftmax.data.arrays",
    "load_cifar_dataset": "tf_wsoftmax.data.cifar",
    "load_digits_split": "tf_wsoftmax.data.digits",
    "load_dataset": "tf_wsoftmax.data.sources",
    "load_idx_dataset": "tf_wsoftmax.data.idx",
    "load_verification_bin": "tf_wsoftmax.data.verification_bin",
    "pack_folder": "tf_wsoftmax.data.folder_packer",
    "read_idx": "tf_wsoftmax.data.idx",
    "standardize_array": "tf_wsoftmax.data.arrays",
    "write_verification_bin": "tf_wsoftmax.data.verification_bin",
}

__all__ = sorted(_LAZY)

__getattr__, __dir__ = lazy_attributes(__name__, {name: (module, name) for name, module in _LAZY.items()})
