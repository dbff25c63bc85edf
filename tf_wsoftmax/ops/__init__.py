"""Pure tensor functions: the math of each loss, no state."""

from tf_wsoftmax.ops.additive import additive_margin_logits
from tf_wsoftmax.ops.additive import arcface_logits
from tf_wsoftmax.ops.additive import arcface_target
from tf_wsoftmax.ops.additive import cosface_logits
from tf_wsoftmax.ops.additive import cosface_target
from tf_wsoftmax.ops.additive import cosine_logits
from tf_wsoftmax.ops.angular import lsoftmax_lambda
from tf_wsoftmax.ops.angular import lsoftmax_logits
from tf_wsoftmax.ops.angular import lsoftmax_logits_from_logits
from tf_wsoftmax.ops.angular import lsoftmax_target
from tf_wsoftmax.ops.angular import multiple_angle_psi
from tf_wsoftmax.ops.angular import sphereface_logits
from tf_wsoftmax.ops.angular import sphereface_logits_from_logits
from tf_wsoftmax.ops.angular import sphereface_target
from tf_wsoftmax.ops.centers import apply_center_update
from tf_wsoftmax.ops.centers import center_loss
from tf_wsoftmax.ops.centers import center_update
from tf_wsoftmax.ops.centers import center_update_statistics
from tf_wsoftmax.ops.centers import contrastive_center_gradient
from tf_wsoftmax.ops.centers import contrastive_center_loss
from tf_wsoftmax.ops.chunked import ChunkedLoss
from tf_wsoftmax.ops.chunked import Scoring
from tf_wsoftmax.ops.chunked import chunked_cross_entropy
from tf_wsoftmax.ops.chunked import row_chunks
from tf_wsoftmax.ops.cross_entropy import sparse_softmax_cross_entropy
from tf_wsoftmax.ops.sampling import PADDING_LOGIT
from tf_wsoftmax.ops.sampling import mask_padding
from tf_wsoftmax.ops.sampling import num_sampled_classes
from tf_wsoftmax.ops.sampling import sample_classes
from tf_wsoftmax.ops.wsoftmax import BIAS_GRADIENTS
from tf_wsoftmax.ops.wsoftmax import EPSILON
from tf_wsoftmax.ops.wsoftmax import check_bias_gradient
from tf_wsoftmax.ops.wsoftmax import normalize_kernel
from tf_wsoftmax.ops.wsoftmax import normalized_logits
from tf_wsoftmax.ops.wsoftmax import wsoftmax_logits
from tf_wsoftmax.ops.wsoftmax import wsoftmax_logits_from_cosine_logits

__all__ = [
    "BIAS_GRADIENTS",
    "ChunkedLoss",
    "Scoring",
    "EPSILON",
    "PADDING_LOGIT",
    "additive_margin_logits",
    "apply_center_update",
    "arcface_logits",
    "arcface_target",
    "check_bias_gradient",
    "chunked_cross_entropy",
    "center_loss",
    "center_update",
    "center_update_statistics",
    "contrastive_center_gradient",
    "contrastive_center_loss",
    "cosface_logits",
    "cosface_target",
    "cosine_logits",
    "lsoftmax_lambda",
    "mask_padding",
    "lsoftmax_logits",
    "lsoftmax_logits_from_logits",
    "lsoftmax_target",
    "multiple_angle_psi",
    "normalize_kernel",
    "normalized_logits",
    "num_sampled_classes",
    "row_chunks",
    "sample_classes",
    "sparse_softmax_cross_entropy",
    "sphereface_logits",
    "sphereface_logits_from_logits",
    "sphereface_target",
    "wsoftmax_logits",
    "wsoftmax_logits_from_cosine_logits",
]
