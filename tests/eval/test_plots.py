"""The figures render (Agg) and carry what a reader needs: axis labels, a key, one scale, legends
off the bars, a title saying what is plotted, and a caption line. Checked on the matplotlib objects."""

import numpy as np
import pytest

from tf_wsoftmax.eval import plots


def _overlaps_axes(fig, legend, ax):
    """Whether the legend's box and the axes' box overlap, as drawn (the figure is closed: a new canvas)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    return legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))


def test_feature_scatter_has_labels_a_class_key_and_one_scale(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 25)
    panels = [(name, scale * rng.normal(size=(100, 2)) + shift, labels)
              for name, scale, shift in (("softmax", 40.0, 5.0), ("center", 1.0, 0.0), ("wsoftmax", 3.0, -2.0))]
    fig = plots.plot_feature_scatter(panels, tmp_path / "features.png", subtitle="digits test set, seed 0")
    assert (tmp_path / "features.png").stat().st_size > 1000
    axes = fig.axes
    assert len(axes) == 3 and [ax.get_title() for ax in axes] == ["softmax", "center", "wsoftmax"]
    assert all(ax.get_xlabel() == "feature 1" for ax in axes) and axes[0].get_ylabel() == "feature 2"
    limits = {(ax.get_xlim(), ax.get_ylim()) for ax in axes}
    assert len(limits) == 1  # one common scale
    (x_low, x_high), (y_low, y_high) = limits.pop()
    points = np.concatenate([features for _, features, _ in panels])
    assert x_low <= points[:, 0].min() and points[:, 0].max() <= x_high
    assert y_low <= points[:, 1].min() and points[:, 1].max() <= y_high
    (key,) = fig.legends
    assert [text.get_text() for text in key.get_texts()] == ["0", "1", "2", "3"] and key.get_title().get_text() == "class"
    colours = [tuple(np.round(handle.get_color(), 6)) for handle in key.legend_handles]
    assert len(set(colours)) == 4
    drawn = {tuple(np.round(c, 6)) for c in axes[0].collections[0].get_facecolors()}
    assert drawn == set(colours)  # the key's colours are the points' colours
    assert not any(_overlaps_axes(fig, key, ax) for ax in axes)
    texts = [text.get_text() for text in fig.texts]
    assert plots.FEATURES_TITLE in texts and "digits test set, seed 0" in texts


def test_feature_scatter_refuses_features_that_are_not_2d(tmp_path):
    with pytest.raises(ValueError, match="'x' has shape \\(5, 3\\)"):
        plots.plot_feature_scatter([("x", np.zeros((5, 3)), np.zeros(5))], tmp_path / "f.png")


def test_angle_bars_say_what_they_plot_and_keep_the_legend_off_the_bars(tmp_path):
    per_class = {f"alpha {a}": list(30 + 5 * np.arange(10) - 10 * a) for a in (0, 0.5, 1)}
    fig = plots.plot_angle_bars(per_class, tmp_path / "bars.png", subtitle="digits, seeds 0, 1, 2")
    (ax,) = fig.axes
    assert len(ax.patches) == 30 and ax.get_ylabel() == plots.ANGLE_AXIS and ax.get_xlabel() == "class"
    legend = ax.get_legend()
    assert [text.get_text() for text in legend.get_texts()] == list(per_class)
    assert not _overlaps_axes(fig, legend, ax)
    texts = [text.get_text() for text in fig.texts]
    assert "Eq. 14" in texts[0] and "class vector" in texts[0] and "digits, seeds 0, 1, 2" in texts


def test_gradient_modes_figure_keeps_every_legend_off_its_panel(tmp_path):
    from tf_wsoftmax.app.experiment import gradient_modes

    alphas = (0.0, 0.5, 1.0)
    rows = [gradient_modes.BASELINE_ROW] + [f"{mode} alpha {a:g}" for mode in ("stop", "full") for a in alphas[1:]]
    rows += [f"fixed simplex alpha {a:g}" for a in alphas]
    records = [{"row": row, "per_class_test": list(20 + np.arange(10) + i)} for i, row in enumerate(rows)]
    fig = gradient_modes.plot_modes(records, alphas, tmp_path / "modes.png", subtitle="digits, seeds 0, 1, 2")
    assert (tmp_path / "modes.png").exists() and len(fig.axes) == 3
    middle = fig.axes[1]
    assert middle.get_title() == 'trainable W, bias_gradient="full"'
    assert [text.get_text() for text in middle.get_legend().get_texts()] == ["alpha 0", "alpha 0.5", "alpha 1"]
    for ax in fig.axes:
        assert not _overlaps_axes(fig, ax.get_legend(), ax)
    texts = [text.get_text() for text in fig.texts]
    assert texts[0].startswith(plots.ANGLE_BARS_TITLE) and "digits, seeds 0, 1, 2" in texts


def test_units_sweep_renders_with_a_caption(tmp_path):
    fig = plots.plot_units_sweep([2, 9, 64], {"softmax": [0.5, 0.9, 0.95]}, [80, 360, 2560], tmp_path / "units.png",
                                 title="Test accuracy against FC units", labels={"K-1": 9}, subtitle="digits, seed 0")
    assert (tmp_path / "units.png").exists()
    assert fig.axes[0].get_xlabel() == "FC feature units" and "digits, seed 0" in [t.get_text() for t in fig.texts]
