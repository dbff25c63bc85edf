"""One train step of a head alone, as the library trains it: the objective, its gradients and the
optimizer's update of the class matrices (`bench heads --update`, `bench memory`).

The step is the head's part of a `MarginClassifier` step: `compute_objective` (chunked, with the
schedule step, the class draw and the centre update) differentiated with respect to the head's
trainable weights and the features (the backbone's gradient starts there), then the optimizer's
update: `keras.optimizers.SGD` with momentum 0.9, or `LazyColumnSGD` for a class-sampling head
(which registers the kernel, as `MarginClassifier.compile` does). On TensorFlow it is a
`tf.function` over the layers' variables; on JAX a stateless `jax.jit` function of the variables'
values (Keras' own JAX train step does the same), whose state arguments are donated.
"""

import keras

from tf_wsoftmax.losses import compute_objective
from tf_wsoftmax.training import LazyColumnSGD
from tf_wsoftmax.training import column_step
from tf_wsoftmax.training.lazy_columns import register_sampled_kernels

LEARNING_RATE = 0.01
MOMENTUM = 0.9


def make_optimizer(head):
    """SGD with momentum 0.9; `LazyColumnSGD` (the kernel registered) for a class-sampling head."""
    sampling = getattr(head, "samples_classes", False)
    optimizer = (LazyColumnSGD if sampling else keras.optimizers.SGD)(LEARNING_RATE, momentum=MOMENTUM)
    register_sampled_kernels(optimizer, [head])
    return optimizer


def tensorflow_step(head, feature_loss, optimizer, jit_compile):
    """A `tf.function` (features, labels) -> (loss, feature gradient) that updates the head's weights."""
    import tensorflow as tf

    variables = head.trainable_variables
    heads = column_step.column_heads(optimizer, [head], variables)  # a sampling head: the column step

    def step(features, labels):
        with tf.GradientTape() as tape:
            tape.watch(features)
            with column_step.recording(heads, tape=tape) as records:
                loss = compute_objective(head, features, labels, feature_loss=feature_loss)["loss"]
        gradients = column_step.tensorflow_gradients(tape, loss, [features] + variables, heads, records)
        with column_step.applying(optimizer, heads, records):
            optimizer.apply(gradients[1:], variables)
        return loss, gradients[0]

    optimizer.build(variables)
    return tf.function(step, jit_compile=jit_compile)


def jax_state(head, feature_loss, optimizer):
    """The variables a stateless step takes: (trainable, non-trainable, optimizer)."""
    layers = [head] + ([feature_loss] if feature_loss is not None else [])
    trainable = [v for layer in layers for v in layer.trainable_variables]
    non_trainable = [v for layer in layers for v in layer.non_trainable_variables]
    return trainable, non_trainable, list(optimizer.variables)


def jax_step(head, feature_loss, optimizer):
    """A stateless step (trainable, non_trainable, optimizer values, features, labels) ->
    (new trainable, new non-trainable, new optimizer values, loss, feature gradient).

    Variables made uninitialised (`keras.StatelessScope(initialize_variables=False)`, for shapes
    too large to allocate) stay so: every scope here initialises nothing.
    """
    import jax

    trainable, non_trainable, optimizer_variables = jax_state(head, feature_loss, optimizer)

    heads = column_step.column_heads(optimizer, [head], trainable)  # a sampling head: the column step
    kernels = [next(i for i, v in enumerate(trainable) if v is h.kernel) for h in heads]

    def objective(trainable_values, features, non_trainable_values, labels, zeros, kernel_values):
        trainable_values = list(trainable_values)
        for i, value in sorted(zip(kernels, kernel_values)):
            trainable_values.insert(i, value)  # not differentiated: the columns are (`zeros`)
        mapping = list(zip(trainable, trainable_values)) + list(zip(non_trainable, non_trainable_values))
        with keras.StatelessScope(state_mapping=mapping, initialize_variables=False) as scope:
            with column_step.recording(heads, deltas=zeros) as records:
                loss = compute_objective(head, features, labels, feature_loss=feature_loss)["loss"]
        updated = [scope.get_current_value(v) for v in non_trainable]
        classes = [record.classes for record in records]
        return loss, ([old if new is None else new for old, new in zip(non_trainable_values, updated)], classes)

    def step(trainable_values, non_trainable_values, optimizer_values, features, labels):
        others = [value for i, value in enumerate(trainable_values) if i not in kernels]
        zeros = column_step.deltas(heads, features.shape[0])
        (loss, (non_trainable_values, classes)), (gradients, feature_gradient, column_gradients) = jax.value_and_grad(
            objective, argnums=(0, 1, 4), has_aux=True
        )(others, features, non_trainable_values, labels, zeros, [trainable_values[i] for i in kernels])
        gradients, records = column_step.jax_gradients_and_records(gradients, kernels, column_gradients, classes)
        with keras.StatelessScope(initialize_variables=False):  # Keras' inner scope then initialises nothing
            with column_step.applying(optimizer, heads, records):
                trainable_values, optimizer_values = optimizer.stateless_apply(
                    optimizer_values, gradients, trainable_values
                )
        return trainable_values, non_trainable_values, optimizer_values, loss, feature_gradient

    del optimizer_variables
    return step
