"""The training objective, written once in `keras.ops`.

    L = CE(training logits, y) + regularisation + lambda L_center

Every entry point computes it here: `MarginClassifier.compute_loss` (Keras'
own train and test steps, on every backend), `TrainStep` (`tf.function`
steps, `tf.distribute`), and, for a stock
`compile(loss=MarginLoss(head))`, `MarginLoss` (its cross-entropy term, the
part a Keras `Loss` owns; Keras adds the regularisation itself).

One head pass per step gives the loss and the metrics: a training step
hands them per-sample cross-entropies and per-sample correctness
(`MarginHead.training_loss`, a `TrainingLoss`), never logits. A margin head
and a plain linear `Dense` head score a training step without a (B, K)
matrix (`ops.chunked_cross_entropy`: chunks of rows, the gradient formed in
the same pass), which needs the reduction's row weights up front
(`reduction_weights`: Keras' "sum_over_batch_size" with sample weights, and
each `tf.distribute` replica's share).

Partial FC (a head with `sample_rate` < 1): the training step's logits are
over the sampled classes and the labels are positions among them, so the
cross-entropy is over the sampled classes, the kernel penalty covers the
sampled columns (`TrainingLoss.regularization`; the variable carries none),
and the correctness is that of the sampled columns' test-time logits:
training accuracy is then accuracy among the sampled classes, which is
higher than over all K, at no extra (B, d) x (d, K) product. Evaluation
scores all K.
"""

import keras
import numpy as np

from tf_wsoftmax import ops
from tf_wsoftmax.layers import MarginHead
from tf_wsoftmax.layers import TrainingLoss
from tf_wsoftmax.layers.margin_head import kernel_shards
from tf_wsoftmax.layers.margin_head import mean_weights
from tf_wsoftmax.layers.margin_head import score_logits
from tf_wsoftmax.ops import _backend
from tf_wsoftmax.ops import checks


def sparse_labels(y_true, num_classes, batch_like, name="y_true"):
    """Turns labels as Keras hands them over into validated int32 class ids.

    Keras casts `y_true` to the loss dtype (float32) before `Loss.call`, and
    datasets often give labels of shape (B, 1). This accepts (B,) or (B, 1),
    checks that float labels are whole numbers (0.5 or one-hot rows are
    errors, not truncated), and checks the range [0, K).

    Args:
        y_true: labels.
        num_classes: K.
        batch_like: a tensor whose first axis is B (the logits or features).
        name: the name in error messages. Defaults to "y_true".

    Returns:
        int32 tensor of shape (B,).
    """
    y_true = keras.ops.convert_to_tensor(y_true)
    if checks.rank(y_true) == 2 and y_true.shape[-1] == 1:
        y_true = keras.ops.squeeze(y_true, axis=-1)
    checks.check_rank(y_true, 1, name, hint=" (expected (batch,) integer class ids, not one-hot)")
    if "float" in checks.dtype_name(y_true):
        y_true = _whole_labels(y_true, name)
    return checks.check_labels(y_true, num_classes, batch_like, name=name)


def sparse_labels_from_keras(y_true, logits):
    """`sparse_labels` with K and B read from (B, K) logits."""
    return sparse_labels(y_true, checks.num_classes_of(logits, -1), logits)


def _whole_labels(y_true, name):
    """Float labels as int32, refusing fractional ones (a traced JAX batch maps them to -1, i.e. NaN)."""
    message = f"`{name}` must hold integer class ids; found a fractional label"
    if _backend.is_tensorflow():
        return _backend._tensorflow().assert_whole_numbers(y_true, name)
    if _backend.is_concrete(y_true):
        values = np.asarray(y_true)
        if np.any(values != np.round(values)):
            raise ValueError(message)
    whole = keras.ops.equal(y_true, keras.ops.round(y_true))
    return keras.ops.where(whole, keras.ops.cast(y_true, "int32"), -1)


@keras.saving.register_keras_serializable(package="tf_wsoftmax")
class SoftmaxCrossEntropy(keras.losses.Loss):
    """Softmax cross-entropy on logits with validated integer labels.

    The cross-entropy term of the objective. Keras' `Loss.__call__` reduces
    it (sample weights, "sum_over_batch_size") and scales it for
    `tf.distribute` (each replica returns its share of the global mean), so
    no entry point divides by hand.

    Args:
        reduction: Keras reduction. Defaults to "sum_over_batch_size".
        name: Defaults to "softmax_cross_entropy".
        **kwargs: other `keras.losses.Loss` arguments.

    Call arguments:
        y_true: integer class ids, (B,) or (B, 1) (whole-valued floats too).
        y_pred: (B, K) logits.
    """

    def __init__(self, reduction="sum_over_batch_size", name="softmax_cross_entropy", **kwargs):
        super().__init__(name=name, reduction=reduction, **kwargs)

    def call(self, y_true, y_pred):
        labels = sparse_labels_from_keras(y_true, y_pred)
        return ops.sparse_softmax_cross_entropy(labels, keras.ops.cast(y_pred, checks.compute_dtype(y_pred)))


def reduction_weights(sample_weight, batch_like):
    """The row weights r of the cross-entropy term: sum_i r_i CE_i is Keras' reduction of CE.

    Keras' "sum_over_batch_size" (the `Loss` default) is sum_i w_i CE_i / B
    for sample weights w (1 when None), divided under `tf.distribute` by the
    number of replicas (each replica's share of the global mean); so
    r_i = w_i / (B x replicas). (Tested against Keras' own reduction.)

    Args:
        sample_weight: None, (B,) or (B, 1).
        batch_like: a (B, ...) tensor of the step (features or logits); its
            dtype decides: float64 for float64 models, else float32.

    Returns:
        (B,) weights.
    """
    dtype = checks.compute_dtype(batch_like)
    ones = keras.ops.ones_like(batch_like[:, 0] if len(batch_like.shape) > 1 else batch_like, dtype)
    weights = ones if sample_weight is None else keras.ops.reshape(keras.ops.cast(sample_weight, dtype), (-1,))
    return _backend.replica_share(weights / keras.ops.cast(keras.ops.shape(ones)[0], dtype))


def score_head(head, features, labels, training=True, test_logits=None, row_weights=None):
    """One pass of the head, scored: per-sample cross-entropy, correctness and its own penalty.

    Args:
        head: a `MarginHead` or a plain classifier layer (`Dense`).
        features: (B, d).
        labels: validated int32 (B,) class ids.
        training: Python bool.
        test_logits: the head's test-time output for `features` in this step,
            if the caller already has it (evaluation: the head is then not
            run again).
        row_weights: (B,) weights of `TrainingLoss.cross_entropy` (see
            `reduction_weights`). Defaults to 1 / B each.

    Returns:
        A `TrainingLoss`. Training a margin head counts one schedule step
        (and, with class sampling, draws its classes); its cross-entropy is
        that of the training logits, the correctness that of the test-time
        logits of the same pass. Training a margin head or a linear `Dense`
        forms no (B, K) matrix.
    """
    if training and isinstance(head, MarginHead):
        return head.training_loss(features, labels, row_weights)
    if training and test_logits is None and _is_linear_dense(head):
        return _dense_training_loss(head, features, labels, row_weights)
    if test_logits is None:
        test_logits = head(features, training=False if isinstance(head, MarginHead) else training)
    penalty = head.detached_regularization() if isinstance(head, MarginHead) and not training else None
    return score_logits(test_logits, labels, penalty, row_weights=row_weights)


def _is_linear_dense(head):
    """A `keras.layers.Dense` whose output is x W (+ b): what softmax and the centre losses train."""
    return (
        isinstance(head, keras.layers.Dense) and head.activation is keras.activations.linear
        and not getattr(head, "lora_enabled", False) and getattr(head, "quantization_mode", None) is None
    )


def _dense_training_loss(head, features, labels, row_weights):
    """Softmax on x W + b in row chunks (`ops.chunked_cross_entropy`), no (B, K) matrix."""
    if not head.built:
        head.build(features.shape)
    features = keras.ops.convert_to_tensor(features)
    row_weights = mean_weights(features) if row_weights is None else row_weights
    bias = keras.ops.convert_to_tensor(head.bias) if head.use_bias else None
    scoring = ops.Scoring(kernel_gradient=head.kernel.trainable)
    model_shards, data_shards = kernel_shards(head.kernel)
    result = ops.chunked_cross_entropy(
        features, head.kernel, labels, row_weights, scoring, bias, model_shards=model_shards, data_shards=data_shards
    )
    return TrainingLoss(result.per_sample, result.correct, None, result.loss)


def regularization(losses):
    """The sum of a model's regularisation terms (float32, or float64 if one is), this replica's share
    under `tf.distribute`."""
    total = keras.ops.zeros((), "float32")
    for term in losses:
        term = keras.ops.sum(term)
        dtype = checks.compute_dtype(total, term)
        total = keras.ops.cast(total, dtype) + keras.ops.cast(term, dtype)
    return _backend.replica_share(total)


def compute_objective(
    head,
    features,
    y,
    sample_weight=None,
    feature_loss=None,
    regularization_losses=(),
    training=True,
    test_logits=None,
):
    """The objective of one step, and the per-sample correctness for the metrics.

    Training: CE of the head's training logits (the head gets the labels),
    plus the regularisation losses, plus the centre term lambda L_center;
    the centre layer's own update (Wen et al.'s rule, or the contrastive
    centres' closed-form gradient step) is applied here, as a state update
    of the step. Evaluation: CE of the test-time logits, plus the
    regularisation (as Keras reports `loss` for any model).

    Under `tf.distribute` (this runs in each replica) every term is the
    replica's share of the global value: Keras' reduction scales the
    cross-entropy, `regularization` the regularisation and the centre term
    is scaled alike; the centre layers all-reduce their statistics. Under
    `keras.distribution` (JAX) the step is one global computation and
    nothing is scaled.

    Args:
        head: classifier layer (`MarginHead` or `Dense`).
        features: (B, d) features of this step's forward pass (may be None
            in evaluation when `test_logits` is given).
        y: labels as the data gives them ((B,) or (B, 1), int or whole float).
        sample_weight: optional (B,) weights of the cross-entropy.
        feature_loss: optional `ClassCenters` layer (center or
            contrastive-center loss); used in training only.
        regularization_losses: the model's regularisation terms
            (`model.losses`).
        training: Python bool.
        test_logits: evaluation: the head's output for `features` in this
            step, if the caller has it.

    Returns:
        dict: "loss" (the total), "cross_entropy", "feature_loss" (the
        centre term, 0 without one), "regularization" and "correct" ((B,)
        float32: the test-time arg max is the label; with class sampling in
        training, among the sampled classes).
    """
    batch_like = features if features is not None else test_logits
    labels = sparse_labels(y, head.units, batch_like)
    weights = reduction_weights(sample_weight, batch_like)
    scored = score_head(head, features, labels, training, test_logits, weights)
    ce = scored.cross_entropy
    dtype = checks.dtype_name(ce)  # float32, or float64 for float64 models: every term in it
    penalties = list(regularization_losses) + ([scored.regularization] if scored.regularization is not None else [])
    regularization_term = keras.ops.cast(regularization(penalties), dtype)
    center_term = keras.ops.zeros((), dtype)
    if training and feature_loss is not None:
        if not feature_loss.built:
            feature_loss.build(features.shape)
        center_term = keras.ops.cast(_backend.replica_share(feature_loss(features, labels)), dtype)
        feature_loss.update(keras.ops.stop_gradient(features), labels)
    return {
        "loss": ce + regularization_term + center_term,
        "cross_entropy": ce,
        "feature_loss": center_term,
        "regularization": regularization_term,
        "correct": scored.correct,
    }
