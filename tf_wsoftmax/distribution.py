"""Class-sharded heads on `keras.distribution` (JAX backend).

A face classifier over 10^5 to 10^7 identities holds a (d, K) class matrix
(and, with momentum, a second one) that outgrows one device. Keras'
distribution API shards a variable over a device mesh from a `LayoutMap`, and
on JAX XLA's SPMD partitioner inserts the collectives the computation needs
(the softmax over K, the W_y gathers): no hand-written all-gathers, unlike
InsightFace's Partial FC.

`class_sharded_layout(model, mesh)` gives every class matrix of a model a
layout split along K over the mesh's "model" axis: the kernels of the margin
heads (d, K), or (K, d) for a head that samples classes (`MarginHead.class_major`:
split along axis 0), and of the model's own classifier head (d, K) and bias (K,), and
the centres (K, d) of the centre-loss layers. Everything else is replicated,
and the batch is split over the "data" axis by `ModelParallel`.

Recipe (also in docs/distributed.md):

    mesh = keras.distribution.DeviceMesh((2, 4), ("data", "model"), keras.distribution.list_devices())
    distribution = class_sharded_distribution(make_model(num_classes=8), mesh)  # names only
    keras.distribution.set_distribution(distribution)
    model = make_model(num_classes=1_000_000)  # class matrices are created sharded
    model.compile(...); model.fit(...)

The layout is keyed by layer names, so a model built small (to read its layer
names) and the real one must name their heads and centre layers alike (the
loss registry names the head "head") and give them the same `sample_rate`
(it decides the kernel's layout). A model whose variables already exist
can be re-laid out in place with `shard_variables(model, distribution)`.
"""

import re

import keras

from tf_wsoftmax.layers import ClassCenters
from tf_wsoftmax.layers import MarginHead
from tf_wsoftmax.layers.traversal import all_layers


def class_matrix_layers(model, heads=()):
    """The layers whose weights are indexed by class, with their sharded axes.

    Args:
        model: a Keras model (built or not).
        heads: further classifier layers to shard (e.g. a plain `Dense` head of
            a functional model); a `MarginClassifier`'s `head` is found on its own.

    Returns:
        list of (layer, {weight name: axes}) where axes use "model" for K.
    """
    found = []
    layers = all_layers(model)
    own_head = getattr(model, "head", None)
    extra = list(heads) + ([own_head] if isinstance(own_head, keras.layers.Layer) else [])
    for layer in dict.fromkeys(layers + extra):  # each layer once, in order
        if isinstance(layer, ClassCenters):
            found.append((layer, {"centers": ("model", None)}))
        elif isinstance(layer, MarginHead) or layer in extra:
            # A class-sampling head stores its kernel class-major, (K, d) (`MarginHead.class_major`).
            axes = {"kernel": ("model", None) if getattr(layer, "class_major", False) else (None, "model")}
            if getattr(layer, "use_bias", False):
                axes["bias"] = ("model",)
            found.append((layer, axes))
    return found


def _num_classes(layer):
    return layer.num_classes if isinstance(layer, ClassCenters) else layer.units


def class_sharded_layout(model, mesh, model_axis="model", heads=()):
    """A `keras.distribution.LayoutMap` that splits every class matrix along K.

    Args:
        model: the Keras model (built or not; only its layers' names and types are read).
        mesh: `keras.distribution.DeviceMesh` with an axis named `model_axis`.
        model_axis: the mesh axis K is split over. Defaults to "model".
        heads: further classifier layers (see `class_matrix_layers`).

    Returns:
        The LayoutMap; keys match "<layer name>/<weight name>" at the end of a
        variable path.

    Raises:
        ValueError: no class matrix in the model, an unknown mesh axis, K not
            divisible by the number of model shards, or two class layers of one name.
    """
    if model_axis not in mesh.axis_names:
        raise ValueError(f"The mesh has no axis '{model_axis}' (axes: {mesh.axis_names}).")
    shards = mesh.shape[list(mesh.axis_names).index(model_axis)]
    layers = class_matrix_layers(model, heads)
    if not layers:
        raise ValueError("Found no class matrix to shard: no margin head, centre layer or `heads=` layer.")
    layout_map = keras.distribution.LayoutMap(mesh)
    names = set()
    for layer, axes in layers:
        if layer.name in names:
            raise ValueError(f"Two class layers are named '{layer.name}'; name them apart (the layout keys on names).")
        names.add(layer.name)
        if _num_classes(layer) % shards:
            raise ValueError(
                f"`{layer.name}` has K={_num_classes(layer)} classes, which the {shards} '{model_axis}' shards "
                f"do not divide; pad K to a multiple of {shards}."
            )
        for weight, weight_axes in axes.items():
            layout_map[f"(.*/)?{re.escape(layer.name)}/{weight}"] = tuple(
                model_axis if axis == "model" else axis for axis in weight_axes
            )
    return layout_map


def class_sharded_distribution(model, mesh, data_axis="data", model_axis="model", heads=()):
    """`keras.distribution.ModelParallel`: batch over `data_axis`, class matrices over `model_axis`.

    Args:
        model, mesh, model_axis, heads: as `class_sharded_layout`.
        data_axis: the mesh axis the batch is split over. Defaults to "data".

    Returns:
        The distribution (pass it to `keras.distribution.set_distribution`).
    """
    if data_axis not in mesh.axis_names:
        raise ValueError(f"The mesh has no axis '{data_axis}' (axes: {mesh.axis_names}).")
    return keras.distribution.ModelParallel(
        layout_map=class_sharded_layout(model, mesh, model_axis, heads), batch_dim_name=data_axis
    )


def shard_variables(model, distribution):
    """Lays out the existing variables of `model` as `distribution` says, in place.

    Layouts are given to variables when they are created; this applies them
    to a model built before the distribution was set (values are kept). The
    optimiser's slots (e.g. momentum), created later by `fit`, take their
    variable's layout. Keras keeps a variable's layout in its `_layout`
    attribute and re-places the value when it is assigned; there is no
    public setter.

    Args:
        model: a built Keras model.
        distribution: a `keras.distribution.Distribution`.

    Returns:
        The number of variables given a sharded layout.
    """
    if keras.backend.backend() != "jax":
        raise ValueError("`shard_variables` needs the JAX backend (keras.distribution shards variables there).")
    sharded = 0
    for variable in model.variables:
        layout = distribution.get_variable_layout(variable)
        variable._layout = layout
        variable.assign(keras.ops.convert_to_tensor(variable.value))
        sharded += any(axis is not None for axis in layout.axes)
    return sharded
