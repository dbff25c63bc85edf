"""The paper's sweeps: FC units (Fig. 4), alpha (Fig. 5), class count (Table 4), 2-D features."""

import dataclasses
import os

import keras

from tf_wsoftmax.data import ArrayBatches
from tf_wsoftmax.data import load_dataset
from tf_wsoftmax.eval import collect_features
from tf_wsoftmax.eval import plots
from tf_wsoftmax.app.experiment.run import MODEL_FILE
from tf_wsoftmax.app.experiment.run import run_training
from tf_wsoftmax.app.experiment.run import write_json


def run_all(configs, out_dir, verbose=False):
    """Runs named configurations one after another, each in its run folder `out_dir/<name>`.

    A finished run is read back (its metrics.json, without training), an
    interrupted one resumes from its checkpoint, and a folder holding a run
    of another config is refused (`run_training`). So re-running a killed
    sweep loses nothing.

    Args:
        configs: dict name -> `TrainConfig`.
        out_dir: the sweep's folder.
        verbose: progress lines.

    Returns:
        dict name -> metrics.
    """
    results = {}
    for name, config in configs.items():
        results[name] = m = run_training(config, os.path.join(out_dir, name), verbose=verbose)
        print(f"{name}: test {m['test_accuracy']:.4f} train {m['train_accuracy']:.4f} "
              f"angle {m['mean_angle_test']:.2f} fc_params {m['fc_params']}", flush=True)
    return results


def caption(base, epochs=None):
    """A figure's caption line: the data, the network, the seed and the epochs of its runs.

    Args:
        base: the `TrainConfig` the runs start from.
        epochs: the runs' epochs. Defaults to `base.epochs`.

    Returns:
        E.g. "digits test images (all classes), backbone small, seed 0, 20 epochs".
    """
    classes = f"first {base.classes} classes" if base.classes else "all classes"
    return (f"{base.dataset} test images ({classes}), backbone {base.backbone_name}, seed {base.seed}, "
            f"{base.epochs if epochs is None else epochs} epochs")


def _losses(base, alphas):
    """softmax plus W-Softmax at each alpha, as (name, config) pairs."""
    runs = [("softmax", base.with_loss("softmax"))]
    runs += [(f"wsoftmax_a{a:g}", base.with_loss("wsoftmax", alpha=a)) for a in alphas]
    return runs


def units_sweep(base, feature_dims, alphas=(1.0,), out_dir="runs/units_sweep"):
    """Accuracy and FC memory versus feature units (Fig. 4).

    Returns:
        A list of records (feature_dim, loss name, test accuracy, fc_params, ...).
    """
    configs = {
        f"{name}_u{u}": dataclasses.replace(config, feature_dim=u)
        for u in feature_dims
        for name, config in _losses(base, alphas)
    }
    results = run_all(configs, out_dir)
    records = [
        {"feature_dim": u, "loss": name, "test_accuracy": results[f"{name}_u{u}"]["test_accuracy"],
         "fc_params": results[f"{name}_u{u}"]["fc_params"]}
        for u in feature_dims
        for name, _ in _losses(base, alphas)
    ]
    names = [name for name, _ in _losses(base, alphas)]
    accuracies = {n: [r["test_accuracy"] for r in records if r["loss"] == n] for n in names}
    fc_bytes = [4 * r["fc_params"] for r in records if r["loss"] == names[0]]
    num_classes = next(iter(results.values()))["num_classes"]
    plots.plot_units_sweep(
        list(feature_dims), accuracies, fc_bytes, os.path.join(out_dir, "units_sweep.png"),
        title="Test accuracy and FC parameter memory vs feature units", labels={"K-1": num_classes - 1},
        subtitle=caption(base),
    )
    write_json(os.path.join(out_dir, "summary.json"), records)
    return records


def alpha_sweep(base, alphas=(0.5, 1.0, 1.5), out_dir="runs/alpha_sweep"):
    """Per-class mean angles for softmax and W-Softmax at each alpha (Fig. 5)."""
    configs = dict(_losses(base, alphas))
    results = run_all(configs, out_dir)
    per_class = {name: results[name]["angles_test"]["per_class"] for name in configs}
    plots.plot_angle_bars(per_class, os.path.join(out_dir, "alpha_angles.png"), subtitle=caption(base))
    records = [
        {"loss": name, "test_accuracy": results[name]["test_accuracy"],
         "mean_angle_test": results[name]["mean_angle_test"], "per_class": per_class[name]}
        for name in configs
    ]
    write_json(os.path.join(out_dir, "summary.json"), records)
    return records


def class_sweep(base, classes=(5, 6, 7, 8, 9, 10), out_dir="runs/class_sweep"):
    """Softmax vs W-Softmax (the base config's alpha) on the first K classes (Table 4)."""
    alpha = base.with_loss("wsoftmax").resolved_loss_params()["alpha"]
    configs = {}
    for k in classes:
        for name, config in _losses(base, (alpha,)):
            configs[f"{name}_k{k}"] = dataclasses.replace(config, classes=k)
    results = run_all(configs, out_dir)
    records = [
        {"classes": k, "loss": name, "test_accuracy": results[f"{name}_k{k}"]["test_accuracy"]}
        for k in classes
        for name, _ in _losses(base, (alpha,))
    ]
    write_json(os.path.join(out_dir, "summary.json"), records)
    return records


FEATURE_LOSSES = ("softmax", "center", "contrastive_center", "wsoftmax")


def features_2d(base, out_dir="runs/features_2d"):
    """2-D features for softmax / center / contrastive-center / W-Softmax, scattered
    side by side (the classic feature-distribution figure). The backbone is
    LeNets++ unless `base.backbone` names another; the feature layer has 2 units."""
    configs = {
        loss: dataclasses.replace(base.with_loss(loss), backbone=base.backbone or "lenets_pp", feature_dim=2)
        for loss in FEATURE_LOSSES
    }
    results = run_all(configs, out_dir)
    data = load_dataset(base.dataset, base.data_dir, base.classes, base.seed, base.download)
    panels = []
    for loss in configs:
        pixels_to_features, head = classifier_parts(os.path.join(out_dir, loss, MODEL_FILE))
        features, _, labels = collect_features(pixels_to_features, head, ArrayBatches(*data.test))
        panels.append((f"{loss} ({100 * results[loss]['test_accuracy']:.1f}%)", features, labels))
    plots.plot_feature_scatter(panels, os.path.join(out_dir, "features_2d.png"), subtitle=caption(configs["softmax"]))
    write_json(os.path.join(out_dir, "summary.json"),
               [{"loss": loss, "test_accuracy": results[loss]["test_accuracy"]} for loss in configs])
    return {loss: results[loss]["test_accuracy"] for loss in configs}


def classifier_parts(path):
    """A saved run's classifier (`run.save_classifier`) as (pixels -> features model, head).

    Args:
        path: the run's model.keras (raw pixels -> standardisation -> backbone -> head).

    Returns:
        (a Keras model from pixel values to the backbone's features, the head layer).
    """
    classifier = keras.models.load_model(path)
    standardize, backbone, head = classifier.layers[-3:]
    return keras.Sequential([keras.Input(classifier.input_shape[1:]), standardize, backbone]), head


def format_records(records, columns):
    """A Markdown table of sweep records."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in records:
        cells = [f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


__all__ = ["alpha_sweep", "class_sweep", "features_2d", "format_records", "run_all", "units_sweep"]
