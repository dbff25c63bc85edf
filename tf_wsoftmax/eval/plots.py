"""Matplotlib figures of the paper: units sweep (Fig. 4), angle bars (Fig. 5), 2-D features."""

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_units_sweep(units, accuracies, fc_bytes, path, title="", labels=None):
    """Accuracy versus FC units, with the FC parameter memory on a second axis (Fig. 4).

    Args:
        units: list of feature widths.
        accuracies: dict series name -> list of test accuracies (one per unit).
        fc_bytes: list of FC memory in bytes (one per unit).
        path: output PNG path.
        title: figure title.
        labels: optional mark (e.g. the K - 1 line) as {"K-1": value}.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, values in accuracies.items():
        ax.plot(units, 100 * np.asarray(values), marker="o", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("FC feature units")
    ax.set_ylabel("test accuracy (%)")
    for text, value in (labels or {}).items():
        ax.axvline(value, color="grey", linestyle=":")
        ax.text(value, ax.get_ylim()[0], f" {text}", color="grey", va="bottom")
    memory = ax.twinx()
    memory.plot(units, np.asarray(fc_bytes) / 1024.0, color="black", linestyle="--", label="FC memory")
    memory.set_ylabel("FC parameters (KiB, float32)")
    lines = ax.get_legend_handles_labels()
    extra = memory.get_legend_handles_labels()
    ax.legend(lines[0] + extra[0], lines[1] + extra[1], loc="lower right")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_angle_bars(per_class, path, title=""):
    """Per-class mean angle (Eq. 14) bars, one group per class (Fig. 5).

    Args:
        per_class: dict series name -> list of K angles (degrees).
        path: output PNG path.
        title: figure title.
    """
    plt = _pyplot()
    names = list(per_class)
    classes = len(next(iter(per_class.values())))
    width = 0.8 / len(names)
    fig, ax = plt.subplots(figsize=(max(7, classes * 0.7), 4.5))
    for index, name in enumerate(names):
        ax.bar(np.arange(classes) + index * width - 0.4 + width / 2, per_class[name], width, label=name)
    ax.set_xticks(np.arange(classes))
    ax.set_xlabel("class")
    ax.set_ylabel("mean angle to own W_y (degrees)")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_angle_bar_panels(panels, path, title=""):
    """Per-class mean angle (Eq. 14) bars, one panel per group of series (Fig. 5).

    Args:
        panels: list of (panel title, dict series name -> list of K angles).
        path: output PNG path.
        title: figure title.
    """
    plt = _pyplot()
    classes = len(next(iter(panels[0][1].values())))
    fig, axes = plt.subplots(
        1, len(panels), figsize=(max(5.0, classes * 0.55) * len(panels), 4.2), sharey=True, squeeze=False
    )
    for ax, (panel_title, per_class) in zip(axes[0], panels):
        width = 0.8 / len(per_class)
        for index, (name, angles) in enumerate(per_class.items()):
            ax.bar(np.arange(classes) + index * width - 0.4 + width / 2, angles, width, label=name)
        ax.set_xticks(np.arange(classes))
        ax.set_xlabel("class")
        ax.set_title(panel_title)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("mean angle to own W_y (degrees)")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_feature_scatter(panels, path, max_points=5000):
    """2-D features coloured by class, one panel per loss, side by side.

    Args:
        panels: list of (title, features (N, 2), labels (N,)).
        path: output PNG path.
        max_points: points drawn per panel (a fixed subsample).
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.2), squeeze=False)
    for ax, (title, features, labels) in zip(axes[0], panels):
        features = np.asarray(features)
        if features.shape[1] != 2:
            raise ValueError(f"Feature scatter needs 2-D features; '{title}' has shape {features.shape}.")
        keep = np.random.default_rng(0).permutation(len(labels))[:max_points]
        ax.scatter(features[keep, 0], features[keep, 1], c=np.asarray(labels)[keep], cmap="tab10", s=3)
        ax.set_title(title)
        ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
