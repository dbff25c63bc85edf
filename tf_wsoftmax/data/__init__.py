"""tf.data pipelines."""

from tf_wsoftmax.data.digits import epoch_datasets
from tf_wsoftmax.data.digits import eval_dataset
from tf_wsoftmax.data.digits import load_digits_split

__all__ = ["epoch_datasets", "eval_dataset", "load_digits_split"]
