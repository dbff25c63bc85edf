"""tf_wsoftmax: W-Softmax and related discriminative losses for TensorFlow/Keras."""

__version__ = "0.1.0"

from tf_wsoftmax import ops
from tf_wsoftmax.layers import NormalizedDense
from tf_wsoftmax.losses import WSoftmaxLoss

__all__ = ["NormalizedDense", "WSoftmaxLoss", "ops", "__version__"]
