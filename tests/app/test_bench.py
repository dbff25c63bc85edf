"""Benchmarks produce well-formed records and tables (speed itself is not asserted here)."""

import json

import pytest

from tf_wsoftmax.app import cli
from tf_wsoftmax.app.bench import heads


def test_every_head_runs_forward_and_backward_with_and_without_xla():
    for name in heads.HEADS:
        for jit in (False, True):
            record = heads.time_head(name, 12, 5, 8, jit_compile=jit, warmup=1, repeats=2)
            assert record["median_ms"] > 0 and record["loss"] == name and record["jit_compile"] is jit


def test_sweep_shapes():
    shapes = heads.sweep_shapes([10, 100, 1000, 10575], [128, 512])
    assert (10, 9) in shapes and (1000, 999) in shapes and (10575, 512) in shapes
    assert not any(k == 10575 and d == 10574 for k, d in shapes)


def test_bench_cli_writes_json_and_table(tmp_path, capsys):
    out = tmp_path / "heads.json"
    code = cli.main(["bench", "heads", "--classes", "20", "--dim", "6", "--batch", "4", "--repeats", "2",
                     "--losses", "normalized_softmax", "wsoftmax", "wsoftmax_full", "--dtype", "float32",
                     "bfloat16", "--json", str(out)])
    assert code == 0
    records = json.loads(out.read_text())
    assert len(records) == 16  # matmul_floor + 3 heads, x 2 dtypes x 2 jit settings
    assert set(records[0]) >= {"loss", "jit_compile", "classes", "dim", "batch", "dtype", "median_ms", "min_ms"}
    assert records[0]["loss"] == "matmul_floor" and all(len(r["round_medians_ms"]) == 3 for r in records)
    assert all(r["min_ms"] <= r["median_ms"] for r in records)
    printed = capsys.readouterr().out
    assert "| wsoftmax |" in printed and "| wsoftmax_full |" in printed
    assert "| matmul_floor |" in printed and "x own floor (min)" in printed
    with pytest.raises(SystemExit):  # refused while parsing, before any head is built
        cli.main(["bench", "heads", "--classes", "20", "--dim", "6", "--losses", "wsoftmax_stop"])
    assert "invalid choice: 'wsoftmax_stop'" in capsys.readouterr().err
    out = tmp_path / "step.json"
    assert cli.main(["bench", "step", "--networks", "mnist", "--batch", "4", "--repeats", "1", "--jit", "off",
                     "--losses", "softmax", "wsoftmax", "--json", str(out)]) == 0
    steps = json.loads(out.read_text())
    assert [r["loss"] for r in steps] == ["softmax", "wsoftmax"] and steps[0]["images_per_s"] > 0


def test_bench_heads_on_jax_runs_without_tensorflow(tmp_path):
    """`tf-wsoftmax bench heads --backend jax` as on a GPU machine: JAX and Keras, no TensorFlow."""
    import os
    import subprocess
    import sys

    out = tmp_path / "jax.json"
    env = dict(os.environ, KERAS_BACKEND="tensorflow")  # --backend must override it
    command = [sys.executable, "-m", "tests.jax_only", "tf_wsoftmax_cli", "bench", "heads", "--backend", "jax",
               "--classes", "30", "--dim", "8", "--batch", "4", "--repeats", "2", "--dtype", "float32", "bfloat16",
               "--json", str(out)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    records = json.loads(out.read_text())
    assert len(records) == 2 * (len(heads.HEADS) + 1)  # the heads and the matmul floor, 2 dtypes
    assert {r["backend"] for r in records} == {"jax"} and {r["jit_compile"] for r in records} == {True}
    assert all(r["device"] and r["median_ms"] > 0 for r in records)
    assert "| wsoftmax | jax |" in result.stdout


def test_tensorflow_records_name_backend_and_device():
    record = heads.time_head("wsoftmax", 12, 5, 8, warmup=1, repeats=2)
    assert record["backend"] == "tensorflow" and record["device"] == "cpu"


def test_bench_input_reports_the_pipeline_next_to_the_train_step(tmp_path, capsys):
    from tests.data.test_recordio import make_faces
    from tf_wsoftmax.data import folder_packer

    make_faces(tmp_path / "src", counts=(6, 6))
    folder_packer.pack_folder(str(tmp_path / "src"), str(tmp_path / "p.rec"))
    out = tmp_path / "input.json"
    assert cli.main(["bench", "input", "--data", str(tmp_path / "p.rec"), "--batch", "4", "--image-size", "32",
                     "--backbone", "small", "--max-images", "8", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["images"] == 12 and record["identities"] == 2
    for key in ("decoded_images_per_s", "pipeline_images_per_s", "train_step_images_per_s"):
        assert record[key] > 0
    assert "| training pipeline images/s |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["bench", "input"])
    assert "required: --data" in capsys.readouterr().err


def test_floor_ratios_divide_by_each_heads_products():
    """x floor = head time / (floor time x products / 3): W-Softmax "stop" against 4 products."""
    base = dict(backend="tensorflow", device="cpu", jit_compile=True, classes=5, dim=3, batch=2, dtype="float32")
    records = [dict(base, loss=name, min_ms=m, median_ms=2 * m) for name, m in
               (("matmul_floor", 3.0), ("normalized_softmax", 5.0), ("cosface", 3.6), ("wsoftmax", 6.0))]
    rows = {line.split("|")[1].strip(): line.split("|") for line in heads.markdown(records).splitlines()[2:]}
    assert rows["cosface"][-4].strip() == "1.20" and rows["cosface"][-5].strip() == "3"
    assert rows["wsoftmax"][-4].strip() == "1.50" and rows["wsoftmax"][-5].strip() == "4"  # 6 / (3 x 4/3)
    assert rows["matmul_floor"][-4].strip() == "1.00"


def test_bench_heads_samples_only_the_heads_that_can(capsys):
    """`--sample-rate 0.2`: the sampling heads and the floor (the full product, once) are timed."""
    assert cli.main([
        "bench", "heads", "--classes", "50", "--dim", "8", "--batch", "4", "--jit", "off", "--repeats", "1",
        "--rounds", "1", "--losses", "wsoftmax", "lsoftmax", "--sample-rate", "1", "0.2",
    ]) == 0
    printed = capsys.readouterr().out
    assert "wsoftmax tensorflow (cpu) K=50 d=8 float32 jit=False rate=0.2" in printed
    assert "lsoftmax tensorflow (cpu) K=50 d=8 float32 jit=False rate=0.2" not in printed
    assert printed.count("matmul_floor tensorflow") == 1
    row = next(line for line in printed.splitlines() if line.startswith("| wsoftmax |") and "| 0.2 |" in line)
    assert float(row.split("|")[12]) > 0  # x rate 1
    with pytest.raises(ValueError, match="sample_rate"):
        heads.time_heads(["wsoftmax"], 50, 8, 4, sample_rate=0.0)


def test_heads_that_cannot_sample_are_not_applicable_rows_at_a_rate_below_1():
    """The non-sampling heads are n/a rows at rate 0.2 (never silently absent), after that setting's rows."""
    base = dict(backend="tensorflow", device="cpu", jit_compile=False, classes=50, dim=8, batch=4, dtype="float32")
    timed = [("matmul_floor", 1.0), ("wsoftmax", 1.0), ("lsoftmax", 1.0), ("center", 1.0), ("wsoftmax", 0.2)]
    records = [dict(base, loss=name, sample_rate=rate, min_ms=1.0, median_ms=2.0) for name, rate in timed]
    table = heads.markdown(records)
    lines = table.splitlines()
    rows = [line for line in lines if line.startswith("| ")][1:]
    assert not heads.samples("lsoftmax") and not heads.samples("center") and heads.samples("wsoftmax")
    assert [row.split("|")[1].strip() for row in rows] == [name for name, _ in timed] + ["lsoftmax", "center"]
    for row in rows[-2:]:
        cells = [cell.strip() for cell in row.split("|")[1:-1]]
        assert cells[8] == "0.2" and cells[9:14] == ["n/a"] * 5 and cells[15:] == ["n/a"] * 3
    assert lines[-1].startswith("n/a: not applicable; the loss does not sample classes")
    # Asked for explicitly (e.g. only rate 0.2 was run): every requested head that cannot sample.
    only_sampled = [r for r in records if r["sample_rate"] == 0.2 or r["loss"] == "matmul_floor"]
    table = heads.markdown(only_sampled, ["matmul_floor", "wsoftmax", "softmax"])
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]
    assert [row.split("|")[1].strip() for row in rows] == ["matmul_floor", "wsoftmax", "softmax"]
    assert "| 0.2 | n/a | n/a |" in rows[-1]
    assert "n/a" not in heads.markdown(records[:4])  # every head at rate 1: no n/a row, no key


def test_bench_memory_names_the_flag_that_gives_a_cpu_virtual_devices():
    from tf_wsoftmax.app.bench import memory

    with pytest.raises(ValueError, match=r"1 device cannot be split into 8 model shards .*"
                                         r"XLA_FLAGS=--xla_force_host_platform_device_count=8"):
        memory.analyse_step("wsoftmax", 16, 4, 8, model_shards=8, devices=["the one CPU"])
def test_update_steps_train_the_head_and_sampling_heads_keep_their_unsampled_columns():
    """`update=True` times a head's part of a training step: the class matrices move (SGD), and a
    sampling head's step (LazyColumnSGD) leaves the columns it did not sample alone."""
    import numpy as np

    head_and_centres = heads.build_head("normalized_softmax", 40, 6, sample_rate=0.25)
    head = head_and_centres[0]
    optimizer = heads.head_step.make_optimizer(head)
    assert type(optimizer).__name__ == "LazyColumnSGD" and optimizer.lazy_column_paths == (head.kernel.path,)
    records = heads.time_heads(["matmul_floor", "normalized_softmax", "softmax", "center"], 40, 6, 8, jit_compile=True,
                               warmup=1, repeats=1, rounds=1, update=True)
    assert [r["update"] for r in records] == [False, True, True, True]
    assert all(r["columns"] == 40 and r["min_ms"] > 0 for r in records)
    sampled = heads.time_heads(["normalized_softmax"], 40, 6, 8, jit_compile=False, warmup=1, repeats=1, rounds=1,
                               sample_rate=0.25, update=True)[0]
    assert sampled["columns"] == 10 and sampled["sample_rate"] == 0.25
    # One step by hand, as the bench runs it: only the drawn columns move.
    layers = heads.build_head("wsoftmax", 40, 6, sample_rate=0.25)
    before = np.asarray(layers[0].kernel).copy()
    optimizer = heads.head_step.make_optimizer(layers[0])
    step = heads.head_step.tensorflow_step(*layers, optimizer, jit_compile=False)
    features, _, _, _, labels = heads._inputs(40, 6, 8, "float32", 0)
    step(features, labels)
    moved = np.abs(np.asarray(layers[0].kernel) - before).sum(1) > 0  # class-major (K, d): rows are classes
    assert 8 <= moved.sum() <= 10 + 8  # the sampled columns (the batch's classes among them), not all 40


def test_own_floor_scales_with_the_sampled_columns():
    """x own floor of a sampled record divides by the floor's products over the sampled share."""
    base = dict(backend="tensorflow", device="cpu", jit_compile=True, classes=100, dim=3, batch=2, dtype="float32")
    records = [dict(base, loss="matmul_floor", min_ms=10.0, median_ms=10.0),
               dict(base, loss="wsoftmax", min_ms=2.0, median_ms=2.0, sample_rate=0.1, columns=10, products=4,
                    update=True)]
    row = heads.markdown(records).splitlines()[3].split("|")
    assert row[16].strip() == "1.50"  # 2 / (10 x 4/3 x 10/100)
    assert row[10].strip() == "yes"


def test_targets_table_compares_each_measurement_with_its_bound():
    from tf_wsoftmax.app.bench import targets

    base = dict(backend="jax", device="cpu", jit_compile=True, classes=1000, dim=3, batch=2, dtype="float32")
    heads_records = [dict(base, loss=name, min_ms=ms, median_ms=ms) for name, ms in
                     (("matmul_floor", 10.0), ("normalized_softmax", 11.0), ("cosface", 13.0), ("wsoftmax", 15.0),
                      ("wsoftmax_full", 21.0))]
    partial = [dict(base, loss="wsoftmax", sample_rate=rate, min_ms=ms, median_ms=ms) for rate, ms in
               ((1.0, 100.0), (0.3, 39.0), (0.1, 16.0))]
    memory_record = dict(loss="wsoftmax", classes=10**6, dim=512, devices=8, data_shards=8, model_shards=1,
                         sample_rate=1.0, peak_bytes=int(6.0 * 2**30))
    rows = {(r[0].split(" <=")[0], r[2]): r for r in targets.targets(heads_records, partial, [memory_record])}
    assert rows[("normalised head", "K=1000 normalized_softmax")][-1] is True
    assert rows[("normalised head", "K=1000 cosface")][-1] is False  # 1.3 > 1.2
    assert rows[("W-Softmax stop", "K=1000")][3] == pytest.approx(15 / 11)
    assert rows[("W-Softmax full", "K=1000")][-1] is True
    assert rows[("Partial FC head + update: rate 0.1", "K=1000 wsoftmax")][-1] is False  # 0.16 > 0.15
    assert rows[("Partial FC head + update: rate 0.3", "K=1000 wsoftmax")][-1] is True  # 0.39 <= 0.4
    memory = next(r for r in targets.targets(memory_records=[memory_record]))
    assert memory[4] == pytest.approx(3 * 512 * 10**6 * 4 / 2**30 + 0.5) and memory[-1] is True
    assert "| target |" in targets.markdown(targets.targets(heads_records))


def test_bench_heads_takes_the_update_flag():
    from tf_wsoftmax.app import cli

    assert cli.build_parser().parse_args(["bench", "heads", "--update"]).update is True
    assert cli.build_parser().parse_args(["bench", "heads"]).update is False
