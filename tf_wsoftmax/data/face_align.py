"""MTCNN face detection, cropping and optional 5-point alignment over identity folders.

The facenet convention: the detected box is widened by `margin` pixels in
total (margin / 2 on each side), clipped to the image, cropped and resized to
`image_size` (160 with margin 32 for evaluation sets; 182 with margin 44 for
training sets that are randomly cropped to 160 later).
"""

import csv
import dataclasses
import multiprocessing
import os

import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
MANIFEST_FIELDS = ("input", "output", "status", "confidence", "box", "detail")

# The 5-point template of ArcFace/insightface for 112x112 crops (left eye,
# right eye, nose, left mouth corner, right mouth corner), rescaled below.
_TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
_KEYPOINT_ORDER = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclasses.dataclass(frozen=True)
class AlignConfig:
    """Settings of `align_folder`.

    Args:
        image_size: output side in pixels. Defaults to 160.
        margin: total margin around the box in pixels (facenet). Defaults to 32.
        selection: "confidence" (most confident face) or "largest_central"
            (largest box, penalised by its distance from the image centre).
        landmarks: warp with a 5-point similarity transform onto the
            insightface template instead of cropping the box.
        min_confidence: faces below it count as no face. Defaults to 0.9.
        max_pixels: larger images are rejected as "too_large". Defaults to
            40 megapixels.
        workers: processes. Defaults to 1.
    """

    image_size: int = 160
    margin: int = 32
    selection: str = "confidence"
    landmarks: bool = False
    min_confidence: float = 0.9
    max_pixels: int = 40_000_000
    workers: int = 1

    def __post_init__(self):
        if self.selection not in ("confidence", "largest_central"):
            raise ValueError(f"`selection` must be 'confidence' or 'largest_central'. Received: {self.selection}")
        if self.image_size < 16 or self.margin < 0 or self.workers < 1:
            raise ValueError("`image_size` must be >= 16, `margin` >= 0 and `workers` >= 1.")
        if not 0.0 <= self.min_confidence <= 1.0:  # MTCNN's confidences are probabilities
            raise ValueError(f"`min_confidence` must be in [0, 1]. Received: min_confidence={self.min_confidence}")


class ImageReadError(ValueError):
    """An image file cannot be decoded (unreadable, truncated, or too large)."""


def read_rgb(path, max_pixels):
    """Reads an image as an RGB uint8 array, refusing truncated or huge files.

    Raises:
        ImageReadError: with the reason in the message.
    """
    from PIL import Image

    try:
        with Image.open(path) as probe:
            width, height = probe.size
            if width * height > max_pixels:
                raise ImageReadError(f"too_large: {width}x{height} pixels > max_pixels={max_pixels}")
            probe.verify()
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"))
    except ImageReadError:
        raise
    except Exception as error:  # PIL raises many types for bad files
        raise ImageReadError(f"unreadable: {type(error).__name__}: {error}") from error


def select_face(faces, image_shape, config):
    """Picks one detection according to `config.selection`, or None."""
    faces = [f for f in faces if f["confidence"] >= config.min_confidence]
    if not faces:
        return None
    if config.selection == "confidence":
        return max(faces, key=lambda f: f["confidence"])
    center = np.array([image_shape[1], image_shape[0]]) / 2.0

    def score(face):
        x, y, w, h = face["box"]
        offset = np.array([x + w / 2.0, y + h / 2.0]) - center
        return w * h - 2.0 * float(offset @ offset)  # facenet's detect_multiple_faces=False rule

    return max(faces, key=score)


def crop_with_margin(image, box, margin, image_size):
    """facenet's crop: widen the (x, y, w, h) box by margin/2 per side, clip, resize."""
    from skimage.transform import resize

    x, y, w, h = box
    x1 = max(int(x - margin / 2), 0)
    y1 = max(int(y - margin / 2), 0)
    x2 = min(int(x + w + margin / 2), image.shape[1])
    y2 = min(int(y + h + margin / 2), image.shape[0])
    crop = image[y1:y2, x1:x2]
    resized = resize(crop, (image_size, image_size), order=1, preserve_range=True, anti_aliasing=True)
    return np.clip(np.round(resized), 0, 255).astype(np.uint8)


def align_with_landmarks(image, keypoints, image_size):
    """Warps the face so its 5 landmarks land on the (rescaled) insightface template."""
    from skimage.transform import SimilarityTransform
    from skimage.transform import warp

    source = np.array([keypoints[name] for name in _KEYPOINT_ORDER], dtype=np.float64)
    target = _TEMPLATE_112 * (image_size / 112.0)
    transform = SimilarityTransform.from_estimate(target, source)  # output coords -> input coords
    if not transform:
        raise ValueError("landmark alignment failed (degenerate landmarks)")
    warped = warp(image, transform, output_shape=(image_size, image_size), order=1, preserve_range=True)
    return np.clip(np.round(warped), 0, 255).astype(np.uint8)


_DETECTOR = None


def _detector():
    global _DETECTOR
    if _DETECTOR is None:
        from mtcnn import MTCNN

        _DETECTOR = MTCNN()
    return _DETECTOR


def align_image(src_path, dst_path, config):
    """Detects, selects, crops/aligns and writes one face.

    Returns:
        A manifest row (dict with `MANIFEST_FIELDS`). Never raises for a bad
        image: the problem is reported in "status" and "detail".
    """
    from PIL import Image

    row = {"input": src_path, "output": "", "status": "", "confidence": "", "box": "", "detail": ""}
    try:
        image = read_rgb(src_path, config.max_pixels)
    except ImageReadError as error:
        status, _, detail = str(error).partition(": ")
        return dict(row, status=status, detail=detail)
    try:
        face = select_face(_detector().detect_faces(image), image.shape, config)
        if face is None:
            return dict(row, status="no_face")
        if config.landmarks:
            crop = align_with_landmarks(image, face["keypoints"], config.image_size)
        else:
            crop = crop_with_margin(image, face["box"], config.margin, config.image_size)
        os.makedirs(os.path.dirname(dst_path), exist_ok=True)
        temporary = dst_path + ".tmp.png"
        Image.fromarray(crop).save(temporary, format="PNG")
        os.replace(temporary, dst_path)
    except Exception as error:  # a failure on one image never stops the run
        return dict(row, status="error", detail=f"{type(error).__name__}: {error}")
    box = " ".join(str(int(v)) for v in face["box"])
    return dict(row, output=dst_path, status="aligned", confidence=f"{float(face['confidence']):.4f}", box=box)


def list_images(src):
    """All image files under `src`, as sorted paths relative to it."""
    found = []
    for root, _, files in os.walk(src):
        for name in files:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(root, name), src))
    return sorted(found)


def _read_manifest(path):
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        return {os.path.realpath(row["input"]): row for row in csv.DictReader(f)}


SETTINGS_FILE = "align_settings.json"


def _check_settings(dst, config):
    """Refuses to resume `dst` with other alignment settings (its manifest's outcomes depend on them)."""
    import json

    settings = {k: v for k, v in dataclasses.asdict(config).items() if k != "workers"}
    path = os.path.join(dst, SETTINGS_FILE)
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        changed = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
        if changed:
            shown = ", ".join(f"{k}: {saved.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise ValueError(
                f"{dst} was aligned with other settings ({shown}); its manifest's outcomes (no_face, ...) "
                "depend on them. Use another destination folder."
            )
        return
    temporary = path + ".tmp"
    with open(temporary, "w") as f:
        json.dump(settings, f, indent=2)
    os.replace(temporary, path)


def _work(args):
    return align_image(*args)


def _start_worker():
    """A worker process builds its detector (importing TensorFlow) with TensorFlow's start-up log hidden.

    The parent process already started TensorFlow (or hid its log), so the
    log would only repeat once per worker. An error is left for the first
    image, which reports it in the manifest as `align_image` does.
    """
    from tf_wsoftmax._quiet import silenced_stderr

    try:
        with silenced_stderr():
            _detector()
    except Exception:  # noqa: BLE001  (reported by align_image on the first image)
        pass


def align_folder(src, dst, config=AlignConfig(), manifest=None, progress=True):
    """Aligns every image of an identity-folder tree into a mirrored tree of PNGs.

    `dst` mirrors `src` (dst/<identity>/<name>.png). The manifest CSV gets one
    row per input as soon as it is processed, so a killed run loses nothing:
    a re-run skips every input already in the manifest (whatever its
    outcome) and processes the rest. The settings are kept beside it
    (`align_settings.json`); a re-run with other settings is refused, since
    the recorded outcomes depend on them. Unreadable, truncated or huge images and
    images without a face are reported there and never stop the run.

    Args:
        src: input root (identity folders, as CASIA-WebFace or LFW).
        dst: output root.
        config: an `AlignConfig`.
        manifest: CSV path. Defaults to dst/manifest.csv.
        progress: show a tqdm progress bar.

    Returns:
        dict status -> count over all inputs (this run and earlier ones).
    """
    from tqdm import tqdm

    if not os.path.isdir(src):
        raise FileNotFoundError(f"Source folder {src} does not exist.")
    # The manifest is keyed by resolved paths: the same folders spelled
    # differently (relative, absolute, through a link) resume the same run.
    src, dst = os.path.realpath(src), os.path.realpath(dst)
    os.makedirs(dst, exist_ok=True)
    _check_settings(dst, config)
    manifest = manifest or os.path.join(dst, "manifest.csv")
    done = _read_manifest(manifest)
    jobs = []
    for relative in list_images(src):
        src_path = os.path.join(src, relative)
        if src_path in done:
            continue
        dst_path = os.path.join(dst, os.path.splitext(relative)[0] + ".png")
        jobs.append((src_path, dst_path, config))
    new_file = not os.path.exists(manifest)
    with open(manifest, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS)
        if new_file:
            writer.writeheader()
        if config.workers > 1 and len(jobs) > 1:
            with multiprocessing.get_context("spawn").Pool(config.workers, initializer=_start_worker) as pool:
                rows = pool.imap_unordered(_work, jobs)
                for row in tqdm(rows, total=len(jobs), disable=not progress, desc="align"):
                    writer.writerow(row)
                    f.flush()
                    done[os.path.realpath(row["input"])] = row
        else:
            for job in tqdm(jobs, disable=not progress, desc="align"):
                row = align_image(*job)
                writer.writerow(row)
                f.flush()
                done[os.path.realpath(row["input"])] = row
    counts = {}
    for row in done.values():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts
