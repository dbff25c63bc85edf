"""Builds a small face pack from real faces available offline, for an end-to-end run.

scikit-image ships 100 real LFW face crops (`skimage.data.lfw_subset()`, 25 x 25
grey). Each face becomes one "identity" whose images are random views of it
(crop 80-100 %, flip, brightness +-15 %, resized to 112 x 112, grey to RGB), and
a verification set `val.bin` in InsightFace's format pairs held-out views: same
identity or not. The identities are the crops, not the people (LFW's people are
not labelled in this subset), so this exercises the data path, not face
recognition accuracy.

Usage: python experiments/small_face_pack.py OUT_DIR [--views 10] [--pairs 300]
Writes OUT_DIR/identities/<face>/<view>.png and OUT_DIR/val.bin.
"""

import argparse
import io
import os

import numpy as np
from PIL import Image

from tf_wsoftmax.data.verification_bin import write_verification_bin


def view(face, rng, size=112):
    """One random view of a (25, 25) float face as a (size, size, 3) uint8 image."""
    side = face.shape[0]
    crop = int(round(side * rng.uniform(0.8, 1.0)))
    top, left = rng.integers(0, side - crop + 1, size=2)
    patch = face[top:top + crop, left:left + crop] * rng.uniform(0.85, 1.15)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    grey = Image.fromarray((np.clip(patch, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.BICUBIC)
    return np.repeat(np.asarray(grey)[:, :, None], 3, axis=2)


def png(pixels):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--views", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from skimage import data

    faces = data.lfw_subset()[:100]  # the first 100 are faces, the rest are not
    rng = np.random.default_rng(args.seed)
    for number, face in enumerate(faces):
        folder = os.path.join(args.out, "identities", f"face_{number:03d}")
        os.makedirs(folder, exist_ok=True)
        for index in range(args.views):
            Image.fromarray(view(face, rng)).save(os.path.join(folder, f"{index:02d}.png"))
    encoded, issame = [], []
    for pair in range(args.pairs):
        same = pair % 2 == 0
        first = int(rng.integers(len(faces)))
        second = first if same else int((first + rng.integers(1, len(faces))) % len(faces))
        encoded += [png(view(faces[first], rng)), png(view(faces[second], rng))]
        issame.append(same)
    write_verification_bin(os.path.join(args.out, "val.bin"), encoded, issame)
    print(f"{args.out}: {len(faces)} identities x {args.views} views; val.bin with {args.pairs} pairs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
