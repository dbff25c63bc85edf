"""Face pipeline: MTCNN alignment on a real photo, identity-folder data, LFW metrics,
face training, SavedModel export for TF Serving and its client."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tf_wsoftmax.app import cli
from tf_wsoftmax.data import face_align
from tf_wsoftmax.data.idx import DataFileError
from tf_wsoftmax.data import folder_face_batches
from tf_wsoftmax.data import list_identity_folders
from tf_wsoftmax.eval import lfw
from tf_wsoftmax.export import export_embedder
from tf_wsoftmax.export import grpc_request
from tf_wsoftmax.export import rest_payload
from tf_wsoftmax.export import rest_url
from tf_wsoftmax.models import build_face_embedder


@pytest.fixture(scope="module")
def astronaut():
    from skimage import data

    return data.astronaut()


def test_mtcnn_finds_the_astronaut(astronaut):
    faces = face_align._detector().detect_faces(astronaut)
    face = face_align.select_face(faces, astronaut.shape, face_align.AlignConfig())
    assert len([f for f in faces if f["confidence"] > 0.9]) == 1
    x, y, w, h = face["box"]
    for px, py in face["keypoints"].values():
        assert x <= px <= x + w and y <= py <= y + h
    crop = face_align.crop_with_margin(astronaut, face["box"], 32, 160)
    assert crop.shape == (160, 160, 3) and crop.dtype == np.uint8


def test_landmark_alignment_puts_eyes_on_the_template(astronaut):
    face = face_align.select_face(face_align._detector().detect_faces(astronaut), astronaut.shape, face_align.AlignConfig())
    aligned = face_align.align_with_landmarks(astronaut, face["keypoints"], 160)
    again = face_align._detector().detect_faces(aligned)
    assert again, "the aligned face must still be a face"
    template = face_align._TEMPLATE_112 * 160 / 112
    eyes = np.array([again[0]["keypoints"]["left_eye"], again[0]["keypoints"]["right_eye"]], float)
    assert np.abs(eyes - template[:2]).max() < 8  # pixels


def write_tree(root, astronaut):
    os.makedirs(root / "alice")
    os.makedirs(root / "bob")
    Image.fromarray(astronaut).save(root / "alice" / "a1.jpg")
    Image.fromarray(np.full((120, 120, 3), 128, np.uint8)).save(root / "alice" / "blank.png")
    (root / "bob" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    jpeg = io.BytesIO()
    Image.fromarray(astronaut).save(jpeg, format="JPEG")
    (root / "bob" / "truncated.jpg").write_bytes(jpeg.getvalue()[:4000])
    Image.fromarray(np.zeros((1000, 1000, 3), np.uint8)).save(root / "bob" / "huge.png")
    (root / "bob" / "notes.txt").write_text("not an image")


def read_manifest(path):
    with open(path) as f:
        return {os.path.basename(r["input"]): r for r in csv.DictReader(f)}


def test_align_folder_reports_every_input_and_resumes(tmp_path, astronaut):
    src, dst = tmp_path / "src", tmp_path / "dst"
    write_tree(src, astronaut)
    config = face_align.AlignConfig(max_pixels=600_000)
    counts = face_align.align_folder(str(src), str(dst), config, progress=False)
    rows = read_manifest(dst / "manifest.csv")
    assert set(rows) == {"a1.jpg", "blank.png", "broken.jpg", "truncated.jpg", "huge.png"}
    assert rows["a1.jpg"]["status"] == "aligned"
    assert rows["blank.png"]["status"] == "no_face"
    assert rows["broken.jpg"]["status"] == "unreadable"
    assert rows["truncated.jpg"]["status"] == "unreadable"
    assert rows["huge.png"]["status"] == "too_large"
    assert counts == {"aligned": 1, "no_face": 1, "unreadable": 2, "too_large": 1}
    out = Image.open(dst / "alice" / "a1.png")
    assert out.size == (160, 160)
    # Resume: a second run processes nothing new and keeps the results.
    stamp = os.path.getmtime(dst / "alice" / "a1.png")
    assert face_align.align_folder(str(src), str(dst), config, progress=False) == counts
    assert os.path.getmtime(dst / "alice" / "a1.png") == stamp
    assert len(read_manifest(dst / "manifest.csv")) == 5
    # The same folders spelled another way (relative to another working directory) resume too.
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert face_align.align_folder("./src/../src", "dst/", config, progress=False) == counts
    finally:
        os.chdir(cwd)
    assert os.path.getmtime(dst / "alice" / "a1.png") == stamp
    with open(dst / "manifest.csv") as f:
        assert len(f.read().splitlines()) == 1 + 5

@pytest.mark.slow
def test_align_with_several_processes_whose_start_up_is_quiet(tmp_path, astronaut):
    """`tf-wsoftmax align --workers 2`: both faces aligned, and nothing on stderr (each worker imports
    TensorFlow for MTCNN, and used to print TensorFlow's start-up log twice)."""
    src = tmp_path / "src"
    os.makedirs(src / "p1")
    os.makedirs(src / "p2")
    Image.fromarray(astronaut).save(src / "p1" / "x.jpg")
    Image.fromarray(astronaut[:, ::-1].copy()).save(src / "p2" / "y.jpg")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(
        [sys.executable, os.path.join(root, "tf_wsoftmax_cli.py"), "align", "src", "dst", "--workers", "2", "--quiet"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0 and result.stdout == "aligned=2\n", result.stderr[-3000:]
    assert result.stderr == ""
    assert os.path.exists(tmp_path / "dst" / "p1" / "x.png") and os.path.exists(tmp_path / "dst" / "p2" / "y.png")


def make_identities(root, identities=4, per_identity=6, size=32):
    """Synthetic identities: each a distinct colour plus noise (a known answer)."""
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(identities, 3))
    for i in range(identities):
        folder = root / f"person{i}"
        os.makedirs(folder)
        for n in range(1, per_identity + 1):
            noise = rng.integers(-20, 20, size=(size, size, 3))
            pixels = np.clip(colours[i] + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"person{i}_{n:04d}.png")


def write_pairs(path, identities=4, per_identity=6, folds=2, per_fold=3):
    rng = np.random.default_rng(1)
    lines = [f"{folds} {per_fold}"]
    for _ in range(folds):
        for _ in range(per_fold):
            i = rng.integers(identities)
            a, b = rng.choice(np.arange(1, per_identity + 1), 2, replace=False)
            lines.append(f"person{i}\t{a}\t{b}")
        for _ in range(per_fold):
            i, j = rng.choice(identities, 2, replace=False)
            lines.append(f"person{i}\t{rng.integers(1, per_identity + 1)}\tperson{j}\t{rng.integers(1, per_identity + 1)}")
    path.write_text("\n".join(lines) + "\n")


def test_identity_folder_dataset(tmp_path):
    make_identities(tmp_path)
    paths, labels, names = list_identity_folders(str(tmp_path))
    assert names == [f"person{i}" for i in range(4)] and len(paths) == 24
    assert list(np.bincount(labels)) == [6, 6, 6, 6]
    batches, identities = folder_face_batches(str(tmp_path), batch_size=5, image_size=32)
    assert len(batches) == 4 and identities == 4  # 24 // 5, remainder dropped
    images = batches[0][0]
    assert images.shape == (5, 32, 32, 3) and -1.0 <= images.min() and images.max() < 1.0
    # The same (seed, epoch, batch) gives the same batch; each image is its file, resized, maybe flipped.
    again, _ = folder_face_batches(str(tmp_path), batch_size=5, image_size=32)
    np.testing.assert_array_equal(batches[1][0], again[1][0])
    first = batches._order[0]
    decoded = np.asarray(Image.open(paths[first]).convert("RGB").resize((32, 32), Image.BILINEAR), np.float32)
    expected = (decoded - 127.5) / 128
    assert np.array_equal(images[0], expected) or np.array_equal(images[0], expected[:, ::-1])
    with pytest.raises(FileNotFoundError):
        list_identity_folders(str(tmp_path / "missing"))
    # A file that is not an image is named before training, not inside the pipeline.
    (tmp_path / "person1" / "zz_notes.jpg").write_text("not an image")
    (tmp_path / "person2" / "zz_empty.png").write_bytes(b"")
    with pytest.raises(DataFileError, match=r"2 unreadable.*zz_notes.jpg \(not a JPEG.*zz_empty.png \(empty\)"):
        list_identity_folders(str(tmp_path))


def test_parse_pairs_and_errors(tmp_path):
    path = tmp_path / "pairs.txt"
    write_pairs(path)
    pairs = lfw.parse_pairs(str(path))
    assert len(pairs) == 12 and sum(p.same for p in pairs) == 6 and {p.fold for p in pairs} == {0, 1}
    lines = path.read_text().splitlines()
    lines[5] = "person1 2"  # line 6 of the file: a mismatched pair with missing fields
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"pairs.txt:6: malformed"):
        lfw.parse_pairs(str(path))
    path.write_text("2 3\nperson0 1 2\n")
    with pytest.raises(ValueError, match="12 lines"):
        lfw.parse_pairs(str(path))
    path.write_text("ten folds\n")
    with pytest.raises(ValueError, match=":1: header"):
        lfw.parse_pairs(str(path))


def test_verification_metrics_known_answers():
    rng = np.random.default_rng(0)
    same = np.array([True, False] * 300)
    folds = np.repeat(np.arange(10), 60)
    separated = np.where(same, 0.9, 0.1) + rng.normal(0, 0.01, 600)
    good = lfw.verification_metrics(separated, same, folds)
    assert good["accuracy_mean"] == 1.0 and good["auc"] == 1.0 and good["eer"] == 0.0
    assert good["val_mean"] == 1.0 and good["far_mean"] <= 1e-3
    first, second = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    chance = lfw.verification_metrics(lfw.cosine_scores(first, second), same, folds)
    assert 0.4 < chance["accuracy_mean"] < 0.6 and 0.4 < chance["auc"] < 0.6
    np.testing.assert_allclose(lfw.cosine_scores(first, 3 * first), 1.0)


def colour_embedding(batch):
    """A perfect embedder for the synthetic identities: the mean colour, centred."""
    return tf.reduce_mean(batch, axis=[1, 2]) - tf.constant([[0.0, 0.0, 0.0]])


def test_evaluate_lfw_end_to_end_and_missing_images(tmp_path):
    make_identities(tmp_path / "aligned")
    write_pairs(tmp_path / "pairs.txt")
    metrics = lfw.evaluate_lfw(colour_embedding, str(tmp_path / "pairs.txt"), str(tmp_path / "aligned"), image_size=32)
    assert metrics["accuracy_mean"] == 1.0 and metrics["pairs"] == 12
    lfw.plot_roc(metrics, str(tmp_path / "roc.png"))
    assert os.path.getsize(tmp_path / "roc.png") > 1000
    pairs = lfw.parse_pairs(str(tmp_path / "pairs.txt"))
    gone = sorted({lfw.image_path(str(tmp_path / "aligned"), *p.first) for p in pairs})[:2]
    for path in gone:
        os.remove(path)
    with pytest.raises(FileNotFoundError) as error:
        lfw.evaluate_lfw(colour_embedding, str(tmp_path / "pairs.txt"), str(tmp_path / "aligned"), image_size=32)
    message = str(error.value)
    assert message.startswith("2 LFW images missing")
    for path in gone:
        assert os.path.basename(path) in message


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    embedder = build_face_embedder(16, 32, "small")
    path = export_embedder(embedder, str(root), "faces", 3)
    return embedder, path, root


def test_export_layout_and_signatures(exported):
    embedder, path, root = exported
    assert path == os.path.join(str(root), "faces", "3")
    cli_out = subprocess.run(
        [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show", "--dir", path, "--all"],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout
    for signature in ("serving_default", "serve_uint8", "serve_bytes"):
        assert f"signature_def['{signature}']" in cli_out
    assert "label" not in cli_out.lower() and "center" not in cli_out.lower()
    loaded = tf.saved_model.load(path)
    for name in ("serving_default", "serve_uint8"):
        args, kwargs = loaded.signatures[name].structured_input_signature
        assert args == () and list(kwargs) == ["faces"] and kwargs["faces"].shape.as_list() == [None, 32, 32, 3]


def test_export_matches_in_memory_model_and_rejects_bad_input(exported, rng):
    embedder, path, _ = exported
    loaded = tf.saved_model.load(path)
    faces = rng.integers(0, 256, size=(3, 32, 32, 3)).astype("float32")
    expected = embedder((faces - 127.5) / 128.0, training=False).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    got = loaded.signatures["serving_default"](faces=tf.constant(faces))["embeddings"].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    as_uint8 = loaded.signatures["serve_uint8"](faces=tf.constant(faces.astype("uint8")))["embeddings"].numpy()
    np.testing.assert_allclose(as_uint8, got, atol=1e-6)
    png = io.BytesIO()
    Image.fromarray(faces[0].astype("uint8")).save(png, format="PNG")
    from_bytes = loaded.signatures["serve_bytes"](images=tf.constant([png.getvalue()]))["embeddings"].numpy()
    np.testing.assert_allclose(from_bytes, got[:1], atol=1e-5)
    serve = loaded.signatures["serving_default"]
    bad_inputs = [
        (tf.zeros((1, 31, 32, 3)), "must be a batch of shape \\[N, 32, 32, 3\\]"),
        (tf.zeros((32, 32, 3)), "single image needs its batch dimension"),
        (tf.zeros((0, 32, 32, 3)), "empty batch"),
        (tf.fill((2, 32, 32, 3), float("nan")), "NaN or Inf"),
    ]
    for faces_in, match in bad_inputs:
        with pytest.raises(tf.errors.InvalidArgumentError, match=match):
            serve(faces=faces_in)
    serve_bytes = loaded.signatures["serve_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="JPEG or PNG"):
        serve_bytes(images=tf.constant([b"corrupt jpeg bytes"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="empty batch"):
        serve_bytes(images=tf.constant([], tf.string))


def test_serve_bytes_reads_the_size_from_the_header_and_refuses_huge_images(tmp_path):
    """A 6000x6000 PNG of one colour is ~100 KB but 36 M pixels: with
    max_pixels=10 M it is refused before decoding; the header sizes of PNG
    and JPEG are read exactly."""
    from tf_wsoftmax.export.serving import encoded_image_pixels

    big, small = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (6000, 6000)).save(big, format="PNG")
    Image.new("RGB", (40, 30)).save(small, format="JPEG")
    assert len(big.getvalue()) < 1_000_000
    assert int(encoded_image_pixels(tf.constant(big.getvalue()))) == 36_000_000
    assert int(encoded_image_pixels(tf.constant(small.getvalue()))) == 1200
    path = export_embedder(build_face_embedder(4, 32, "small"), str(tmp_path), "f", 1, max_pixels=10_000_000)
    serve_bytes = tf.saved_model.load(path).signatures["serve_bytes"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="more than max_pixels=10000000"):
        serve_bytes(images=tf.constant([small.getvalue(), big.getvalue()]))
    assert serve_bytes(images=tf.constant([small.getvalue()]))["embeddings"].shape == (1, 4)


def test_export_refuses_to_overwrite_and_bad_versions(exported):
    embedder, _, root = exported
    with pytest.raises(FileExistsError):
        export_embedder(embedder, str(root), "faces", 3)
    with pytest.raises(ValueError, match="version"):
        export_embedder(embedder, str(root), "faces", 0)


def test_client_builds_correct_requests():
    faces = np.zeros((2, 4, 4, 3), np.uint8)
    payload = rest_payload(faces=faces)
    assert payload["signature_name"] == "serving_default"
    assert np.asarray(payload["instances"]).shape == (2, 4, 4, 3)
    encoded = rest_payload(encoded_images=[b"\x89PNG..."])
    assert encoded == {"signature_name": "serve_bytes", "instances": [{"b64": "iVBORy4uLg=="}]}
    assert rest_url("localhost", "faces", 3) == "http://localhost:8501/v1/models/faces/versions/3:predict"
    request = grpc_request("faces", faces=faces, version=3)
    assert request.model_spec.name == "faces" and request.model_spec.version.value == 3
    assert request.model_spec.signature_name == "serving_default"
    assert tf.make_ndarray(request.inputs["faces"]).shape == (2, 4, 4, 3)
    assert list(request.output_filter) == ["embeddings"]
    byte_request = grpc_request("faces", encoded_images=[b"abc", b"de"])
    assert byte_request.model_spec.signature_name == "serve_bytes"
    assert list(tf.make_ndarray(byte_request.inputs["images"])) == [b"abc", b"de"]
    with pytest.raises(ValueError, match="exactly one"):
        rest_payload()
    with pytest.raises(ValueError, match=r"\[N, S, S, 3\]"):
        rest_payload(faces=np.zeros((4, 4, 3)))

@pytest.mark.slow
def test_train_faces_export_and_lfw_from_the_cli(tmp_path, capsys):
    make_identities(tmp_path / "aligned", identities=4, per_identity=8)
    write_pairs(tmp_path / "pairs.txt", per_identity=8)
    out = str(tmp_path / "run")
    args = ["train-faces", "--data", str(tmp_path / "aligned"), "--out", out, "--backbone", "small",
            "--image-size", "32", "--feature-dim", "8", "--batch-size", "8", "--steps", "10",
            "--learning-rate", "0.05", "--pretrain-steps", "4", "--quiet"]
    assert cli.main(args) == 0
    assert "steps=10 identities=4" in capsys.readouterr().out
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    assert -1.0 <= metrics["embedding_mean_pairwise_cosine"] <= 1.0 and isinstance(metrics["warnings"], list)
    model = os.path.join(out, "embedder.keras")
    assert cli.main(["lfw", "--pairs", str(tmp_path / "pairs.txt"), "--dir", str(tmp_path / "aligned"),
                     "--model", model, "--roc", str(tmp_path / "roc.png")]) == 0
    assert "LFW accuracy" in capsys.readouterr().out
    assert cli.main(["export", "--model", model, "--out", str(tmp_path / "serving"), "--name", "faces"]) == 0
    assert os.path.exists(tmp_path / "serving" / "faces" / "1" / "saved_model.pb")
    assert cli.main(["export", "--model", model, "--out", str(tmp_path / "serving"), "--name", "faces"]) == 2
    capsys.readouterr()
    # Flags are validated, a different run in the same folder is refused, K = 1 is an error.
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses a zero size before anything runs
        cli.main(args[:-1] + ["--batch-size", "0", "--quiet"])
    assert exit_info.value.code == 2
    assert "--batch-size: must be >= 1, got 0" in capsys.readouterr().err
    assert cli.main([a if a != "0.05" else "0.01" for a in args]) == 2
    assert "learning_rate: 0.05 -> 0.01" in capsys.readouterr().err
    make_identities(tmp_path / "one", identities=1, per_identity=8)
    assert cli.main(["train-faces", "--data", str(tmp_path / "one"), "--out", str(tmp_path / "one_run"),
                     "--backbone", "small", "--image-size", "32", "--batch-size", "4", "--quiet"]) == 2
    assert "at least 2 identities" in capsys.readouterr().err


@pytest.mark.slow
def test_train_faces_from_a_pack_with_verification_sets_during_training(tmp_path, capsys):
    """pack -> train-faces on the .rec, lfw-style .bin evaluated every 4 steps -> verify."""
    from tf_wsoftmax.data.verification_bin import write_verification_bin

    make_identities(tmp_path / "aligned", identities=4, per_identity=8)
    assert cli.main(["pack", str(tmp_path / "aligned"), str(tmp_path / "train.rec")]) == 0
    images = sorted((tmp_path / "aligned").rglob("*.png"))
    pairs = [(images[0], images[1], True), (images[0], images[9], False)] * 10  # person0 twice; person0 vs 1 (2 per fold)
    encoded = [p.read_bytes() for first, second, _ in pairs for p in (first, second)]
    write_verification_bin(tmp_path / "val.bin", encoded, [same for _, _, same in pairs])
    out = str(tmp_path / "run")
    args = ["train-faces", "--data", str(tmp_path / "train.rec"), "--out", out, "--backbone", "small",
            "--image-size", "32", "--feature-dim", "8", "--batch-size", "8", "--steps", "10",
            "--learning-rate", "0.05", "--bin", str(tmp_path / "val.bin"), "--evaluate-every", "4", "--quiet"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "steps=10 identities=4" in printed
    assert [line.split("]")[0] for line in printed.splitlines() if "val: accuracy" in line] == [
        "[step 4", "[step 8", "[step 10"]  # one line per evaluation, with its threshold
    assert "threshold" in printed
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    history = metrics["verification"]["history"]
    assert [row["step"] for row in history] == [4, 8, 10]  # every 4 steps and at the end
    best = metrics["verification"]["best"]["val"]
    assert best["accuracy_mean"] == max(row["val"]["accuracy_mean"] for row in history)
    with open(os.path.join(out, "verification.json")) as f:
        assert json.load(f) == metrics["verification"]  # derived from the checkpoint, written beside it
    assert cli.main(["verify", "--model", os.path.join(out, "embedder.keras"), "--bin", str(tmp_path / "val.bin")]) == 0
    assert "| val |" in capsys.readouterr().out
    other = ["--out", str(tmp_path / "other"), "--min-images", "2"]
    assert cli.main(args[:3] + other + ["--backbone", "small", "--quiet"]) == 2
    assert "a .rec pack is used as packed" in capsys.readouterr().err


def test_a_refused_run_leaves_nothing_in_its_folder(tmp_path, capsys):
    """A batch larger than the data is refused before config.json is written, so the corrected
    command then runs in the same folder (it used to be refused as "a different config")."""
    make_identities(tmp_path / "aligned", identities=2, per_identity=3)
    out = tmp_path / "run"
    base = ["train-faces", "--data", str(tmp_path / "aligned"), "--out", str(out), "--backbone", "small",
            "--image-size", "32", "--feature-dim", "4", "--steps", "2", "--quiet"]
    assert cli.main(base + ["--batch-size", "64"]) == 2
    assert "fewer than one batch of 64" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert cli.main(base + ["--batch-size", "2"]) == 0
    assert (out / "config.json").exists()


def test_an_unwritable_output_folder_is_one_line(tmp_path, capsys):
    from tf_wsoftmax.training import RunFolder

    blocker = tmp_path / "file"
    blocker.write_text("a file where the run folder should go")
    with pytest.raises(OSError, match="cannot write the run folder .*file/run"):
        RunFolder(str(blocker / "run")).open()


def test_align_refuses_impossible_confidences_and_other_settings_on_resume(tmp_path):
    from tf_wsoftmax.data.face_align import AlignConfig
    from tf_wsoftmax.data.face_align import align_folder

    for bad in (2.0, -0.1):
        with pytest.raises(ValueError, match="min_confidence"):
            AlignConfig(min_confidence=bad)
    (tmp_path / "src" / "person").mkdir(parents=True)
    align_folder(str(tmp_path / "src"), str(tmp_path / "dst"), AlignConfig(min_confidence=0.5), progress=False)
    with pytest.raises(ValueError, match="min_confidence: 0.5 -> 0.9"):
        align_folder(str(tmp_path / "src"), str(tmp_path / "dst"), AlignConfig(), progress=False)
    align_folder(str(tmp_path / "src"), str(tmp_path / "dst"), AlignConfig(min_confidence=0.5, workers=2), progress=False)


def test_identity_folder_images_are_checked_against_the_pixel_limit_before_decoding(tmp_path):
    """Folders (train-faces and lfw read them through `FaceBatches`) apply serving's limit, naming the
    file; the serving graph reads the stated sizes of PNG, JPEG, GIF and BMP headers exactly."""
    from tests.data.test_verification_bin import png_header_only
    from tf_wsoftmax.data import folder_face_batches
    from tf_wsoftmax.data.images import ImageTooLargeError
    from tf_wsoftmax.export.face_decoding import stated_pixels

    for fmt, size in (("PNG", (50, 40)), ("JPEG", (33, 21)), ("GIF", (17, 9)), ("BMP", (12, 7))):
        buffer = io.BytesIO()
        Image.new("RGB", size).save(buffer, format=fmt)
        assert int(stated_pixels(tf.constant(buffer.getvalue()))) == size[0] * size[1], fmt
    assert int(stated_pixels(tf.constant(b"not an image at all, long enough"))) == -1
    for person in ("person0", "person1"):
        (tmp_path / person).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / person / "small.png")
    (tmp_path / "person0" / "huge.png").write_bytes(png_header_only(16000, 16000))
    batches, _ = folder_face_batches(str(tmp_path), batch_size=3, image_size=8)
    with pytest.raises(ImageTooLargeError, match="huge.png: .*256000000 pixels.*max_pixels=40000000"):
        batches[0]


def test_a_face_run_leaves_a_hyperparameter_added_after_runs_out_of_its_identity_at_its_default(tmp_path):
    """`sample_blocks` came after face run folders were written: at its default (1, the draw those
    runs made) a face run's identity leaves it out, so their `config.json` still matches and the run
    resumes; any other value is part of the identity (as for `train` runs: test_experiment.py)."""
    from tf_wsoftmax.app.experiment.faces import FaceTrainConfig
    from tf_wsoftmax.app.experiment.faces import face_identity

    class Batches:
        def fingerprint(self):
            return {"images": 8}

    def loss_params(**params):
        config = FaceTrainConfig(data=str(tmp_path), loss="cosface", loss_params=params)
        return face_identity(config, Batches(), 10, 0)["loss_params"]

    default = loss_params(sample_rate=0.5)
    assert "sample_blocks" not in default and default["sample_rate"] == 0.5
    assert loss_params(sample_rate=0.5, sample_blocks=1) == default
    assert loss_params(sample_rate=0.5, sample_blocks=2)["sample_blocks"] == 2


def test_a_face_run_refuses_blocks_that_do_not_divide_its_identities_before_writing_its_folder(tmp_path, capsys):
    """4 identities: `--sample-blocks 3` is refused before config.json is written (so the corrected
    command runs in the same folder); `--sample-blocks 4` trains."""
    make_identities(tmp_path / "aligned", identities=4, per_identity=3)
    out = tmp_path / "run"
    base = ["train-faces", "--data", str(tmp_path / "aligned"), "--out", str(out), "--backbone", "small",
            "--image-size", "32", "--feature-dim", "4", "--steps", "1", "--batch-size", "4", "--quiet",
            "--loss", "cosface", "--sample-rate", "0.5"]
    assert cli.main(base + ["--sample-blocks", "3"]) == 2
    assert "`sample_blocks` must divide" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert cli.main(base + ["--sample-blocks", "4"]) == 0
    assert json.loads((out / "config.json").read_text())["identity"]["loss_params"]["sample_blocks"] == 4
