"""scikit-learn's bundled UCI handwritten digits: the embedded offline dataset."""


def load_digits_split(test_fraction=0.2, seed=0):
    """Loads the 1,797 8x8 digit images with a stratified train/test split.

    Args:
        test_fraction: share of each class held out for testing. Defaults to 0.2.
        seed: split seed. Defaults to 0.

    Returns:
        ((x_train, y_train), (x_test, y_test)): float32 images (N, 8, 8, 1)
        scaled to [0, 1] and int32 labels in [0, 10).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]
    labels = digits.target.astype("int32")
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    return (x_train, y_train), (x_test, y_test)
