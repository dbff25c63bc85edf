"""Walking a model's layers through public Keras APIs."""

import keras


def all_layers(model):
    """Every layer of `model`, nested models included, each once, in order.

    Uses the public `Model.layers` (the direct sub-layers of a functional,
    sequential or subclassed model) recursively; Keras' own recursive walk
    is private.

    Args:
        model: a `keras.Model` (or a layer, which yields itself).

    Returns:
        A list of layers.
    """
    if not isinstance(model, keras.Model):
        return [model]
    found = []
    for layer in model.layers:
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
    return list(dict.fromkeys(found))
