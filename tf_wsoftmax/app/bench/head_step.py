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

    def step(features, labels):
        with tf.GradientTape() as tape:
            tape.watch(features)
            loss = compute_objective(head, features, labels, feature_loss=feature_loss)["loss"]
        gradients = tape.gradient(loss, [features] + variables)
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

    def objective(trainable_values, features, non_trainable_values, labels):
        mapping = list(zip(trainable, trainable_values)) + list(zip(non_trainable, non_trainable_values))
        with keras.StatelessScope(state_mapping=mapping, initialize_variables=False) as scope:
            loss = compute_objective(head, features, labels, feature_loss=feature_loss)["loss"]
        updated = [scope.get_current_value(v) for v in non_trainable]
        return loss, [old if new is None else new for old, new in zip(non_trainable_values, updated)]

    def step(trainable_values, non_trainable_values, optimizer_values, features, labels):
        (loss, non_trainable_values), (gradients, feature_gradient) = jax.value_and_grad(
            objective, argnums=(0, 1), has_aux=True
        )(trainable_values, features, non_trainable_values, labels)
        with keras.StatelessScope(initialize_variables=False):  # Keras' inner scope then initialises nothing
            trainable_values, optimizer_values = optimizer.stateless_apply(
                optimizer_values, gradients, trainable_values
            )
        return trainable_values, non_trainable_values, optimizer_values, loss, feature_gradient

    del optimizer_variables
    return step
