"""Pure tensor functions: the math of each loss, no state."""

from tf_wsoftmax.ops.wsoftmax import EPSILON
from tf_wsoftmax.ops.wsoftmax import normalize_kernel
from tf_wsoftmax.ops.wsoftmax import normalized_logits
from tf_wsoftmax.ops.wsoftmax import wsoftmax_logits
from tf_wsoftmax.ops.wsoftmax import wsoftmax_logits_from_cosine_logits

__all__ = [
    "EPSILON",
    "normalize_kernel",
    "normalized_logits",
    "wsoftmax_logits",
    "wsoftmax_logits_from_cosine_logits",
]
