"""The experiments' figures: the title says what is plotted, the caption line the data, network, seed and epochs.

The runs are replaced by fixed metrics and the plotting functions by recorders: these tests check
what the sweeps and paper-tables hand to `tf_wsoftmax.eval.plots`, not the training.
"""

import dataclasses
import os

import pytest

from tf_wsoftmax.app.experiment import TrainConfig
from tf_wsoftmax.app.experiment import paper_tables
from tf_wsoftmax.app.experiment import sweeps
from tf_wsoftmax.eval import plots


def fake_metrics(configs, out_dir, verbose=False):
    os.makedirs(out_dir, exist_ok=True)  # as the runs would
    return {
        name: {"test_accuracy": 0.9, "train_accuracy": 0.95, "mean_angle_test": 20.0, "mean_angle_train": 18.0,
               "fc_params": 100, "num_classes": 10, "angles_test": {"per_class": [20.0] * 10}}
        for name in configs
    }


@pytest.fixture
def plotted(monkeypatch):
    """The keyword arguments of every figure function call, by function name."""
    calls = {}
    for name in ("plot_units_sweep", "plot_angle_bars", "plot_feature_scatter"):
        monkeypatch.setattr(plots, name, lambda *args, _name=name, **kwargs: calls.setdefault(_name, kwargs))
    monkeypatch.setattr(sweeps, "run_all", fake_metrics)
    monkeypatch.setattr(paper_tables, "run_all", fake_metrics)
    return calls


def test_sweep_figures_carry_the_data_seed_and_epochs_under_a_title_of_what_is_plotted(tmp_path, plotted):
    base = TrainConfig(dataset="digits", epochs=7, seed=3, classes=6)
    sweeps.alpha_sweep(base, alphas=(1.0,), out_dir=str(tmp_path / "alpha"))
    sweeps.units_sweep(base, [2, 9], alphas=(1.0,), out_dir=str(tmp_path / "units"))
    caption = "digits test images (first 6 classes), backbone small, seed 3, 7 epochs"
    assert plotted["plot_angle_bars"] == {"subtitle": caption}  # the title: plots.ANGLE_BARS_TITLE, what is plotted
    assert "Eq. 14 per class" not in plots.ANGLE_BARS_TITLE and "Eq. 14" in plots.ANGLE_BARS_TITLE
    assert plotted["plot_units_sweep"]["subtitle"] == caption
    assert plotted["plot_units_sweep"]["title"] == "Test accuracy and FC parameter memory vs feature units"
    assert sweeps.caption(dataclasses.replace(base, backbone="lenets_pp", classes=None)) == (
        "digits test images (all classes), backbone lenets_pp, seed 3, 7 epochs")


def test_paper_tables_fig5_caption_has_the_sized_epochs(tmp_path, plotted, monkeypatch):
    config = paper_tables.PaperTablesConfig(data_dir=str(tmp_path), runs_dir=str(tmp_path / "runs"), seed=2,
                                            tiny=True)
    plan = {"epochs": 4, "estimated_seconds": 1.0, "timing": {"train_seconds": 1.0, "steps": 3}}
    monkeypatch.setattr(paper_tables, "_plan", lambda config, started: plan)
    paper_tables.paper_tables(config, str(tmp_path / "out"))
    caption = "mnist test images (all classes), backbone tiny, seed 2, 4 epochs"
    assert plotted["plot_angle_bars"] == {"subtitle": caption}
