"""Matplotlib figures of the paper: units sweep (Fig. 4), angle bars (Fig. 5), 2-D features.

Every figure says what it plots in its title, keeps its legends off the data
(outside the axes), and takes a `subtitle`: a caption line under the figure
for the data and the seeds it was made from. Each function writes a PNG and
returns the matplotlib `Figure` (closed, so it holds no pyplot state).
"""

import numpy as np

ANGLE_BARS_TITLE = "Mean angle between each test feature and its class vector (Eq. 14), per class"
ANGLE_AXIS = "mean angle to own class vector W_y (degrees)"
FEATURES_TITLE = "2-D features of the test images, coloured by class (same scale in every panel)"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _figure(plt, columns, size, **kwargs):
    """A figure of `columns` axes in one row, laid out by matplotlib's constrained layout (which makes
    room for the title, the caption and the legends outside the axes)."""
    return plt.subplots(1, columns, figsize=size, layout="constrained", squeeze=False, **kwargs)


def _finish(plt, fig, path, title, subtitle, dpi):
    """Draws the title and the caption line (under the axes), writes the PNG and closes the figure."""
    if title:
        fig.suptitle(title)
    if subtitle:
        fig.supxlabel(subtitle, fontsize=8, color="dimgrey")
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return fig


def _bars(ax, per_class, classes):
    """One group of bars per class, one bar per series, the legend outside the axes, under them."""
    width = 0.8 / len(per_class)
    for index, (name, angles) in enumerate(per_class.items()):
        ax.bar(np.arange(classes) + index * width - 0.4 + width / 2, angles, width, label=name)
    ax.set_xticks(np.arange(classes))
    ax.set_xlabel("class")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(len(per_class), 4), fontsize=8,
              frameon=False)


def plot_units_sweep(units, accuracies, fc_bytes, path, title="", labels=None, subtitle=None):
    """Accuracy versus FC units, with the FC parameter memory on a second axis (Fig. 4).

    Args:
        units: list of feature widths.
        accuracies: dict series name -> list of test accuracies (one per unit).
        fc_bytes: list of FC memory in bytes (one per unit).
        path: output PNG path.
        title: figure title.
        labels: optional mark (e.g. the K - 1 line) as {"K-1": value}.
        subtitle: caption line (the data and seeds). Defaults to None.

    Returns:
        The matplotlib `Figure`.
    """
    plt = _pyplot()
    fig, axes = _figure(plt, 1, (7, 4.5))
    ax = axes[0][0]
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
    return _finish(plt, fig, path, title, subtitle, 120)


def plot_angle_bars(per_class, path, title=ANGLE_BARS_TITLE, subtitle=None):
    """Per-class mean angle (Eq. 14) bars, one group per class (Fig. 5).

    Args:
        per_class: dict series name -> list of K angles (degrees).
        path: output PNG path.
        title: figure title. Defaults to `ANGLE_BARS_TITLE` (what is plotted).
        subtitle: caption line (the data and seeds). Defaults to None.

    Returns:
        The matplotlib `Figure`.
    """
    plt = _pyplot()
    classes = len(next(iter(per_class.values())))
    fig, axes = _figure(plt, 1, (max(7, classes * 0.7), 4.8))
    ax = axes[0][0]
    _bars(ax, per_class, classes)
    ax.set_ylabel(ANGLE_AXIS)
    return _finish(plt, fig, path, title, subtitle, 120)


def plot_angle_bar_panels(panels, path, title=ANGLE_BARS_TITLE, subtitle=None):
    """Per-class mean angle (Eq. 14) bars, one panel per group of series (Fig. 5).

    Args:
        panels: list of (panel title, dict series name -> list of K angles).
        path: output PNG path.
        title: figure title. Defaults to `ANGLE_BARS_TITLE` (what is plotted).
        subtitle: caption line (the data and seeds). Defaults to None.

    Returns:
        The matplotlib `Figure`.
    """
    plt = _pyplot()
    classes = len(next(iter(panels[0][1].values())))
    fig, axes = _figure(plt, len(panels), (max(5.0, classes * 0.55) * len(panels), 4.8), sharey=True)
    for ax, (panel_title, per_class) in zip(axes[0], panels):
        _bars(ax, per_class, classes)
        ax.set_title(panel_title)
    axes[0][0].set_ylabel(ANGLE_AXIS)
    return _finish(plt, fig, path, title, subtitle, 110)


def _class_colours(classes):
    """One colour per class (tab10 up to 10 classes, tab20 up to 20, then a continuous map)."""
    import matplotlib

    name = "tab10" if len(classes) <= 10 else "tab20" if len(classes) <= 20 else "turbo"
    colours = matplotlib.colormaps[name]
    if len(classes) <= 20:
        return {c: colours(i) for i, c in enumerate(classes)}
    return {c: colours(i / (len(classes) - 1)) for i, c in enumerate(classes)}


def plot_feature_scatter(panels, path, max_points=5000, title=FEATURES_TITLE, subtitle=None):
    """2-D features coloured by class, one panel per loss, side by side, on one common scale.

    Every panel has the same x and y range (so the spread of the losses'
    features compares at a glance), axis labels "feature 1" / "feature 2",
    and one key of the class colours beside the panels.

    Args:
        panels: list of (title, features (N, 2), labels (N,)).
        path: output PNG path.
        max_points: points drawn per panel (a fixed subsample).
        title: figure title. Defaults to `FEATURES_TITLE`.
        subtitle: caption line (the data and seeds). Defaults to None.

    Returns:
        The matplotlib `Figure`.
    """
    from matplotlib.lines import Line2D

    shown = []
    for panel_title, features, labels in panels:
        features, labels = np.asarray(features), np.asarray(labels)
        if features.ndim != 2 or features.shape[1] != 2:
            raise ValueError(f"Feature scatter needs 2-D features; '{panel_title}' has shape {features.shape}.")
        keep = np.random.default_rng(0).permutation(len(labels))[:max_points]
        shown.append((panel_title, features[keep], labels[keep]))
    classes = sorted({c for _, _, labels in shown for c in labels.tolist()})
    colours = _class_colours(classes)
    points = np.concatenate([features for _, features, _ in shown])
    centre = (points.max(axis=0) + points.min(axis=0)) / 2
    half = 0.55 * max(float(np.max(points.max(axis=0) - points.min(axis=0))), 1e-12)  # one square range, 5 % margin

    plt = _pyplot()
    fig, axes = _figure(plt, len(shown), (4.2 * len(shown) + 1.0, 4.6), sharex=True, sharey=True)
    for ax, (panel_title, features, labels) in zip(axes[0], shown):
        ax.scatter(features[:, 0], features[:, 1], c=[colours[c] for c in labels.tolist()], s=3)
        ax.set_title(panel_title)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_aspect("equal")
        ax.set_xlabel("feature 1")
    axes[0][0].set_ylabel("feature 2")
    handles = [Line2D([], [], marker="o", linestyle="", color=colours[c], label=str(c)) for c in classes]
    fig.legend(handles=handles, title="class", loc="outside right center", frameon=False)
    return _finish(plt, fig, path, title, subtitle, 120)
