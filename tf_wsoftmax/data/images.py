"""Decoding stored face images: one pixel rule and one size limit for every reader.

A few-KB PNG or JPEG can claim a 16000 x 16000 image; every reader checks the
size its header states against `MAX_PIXELS` before decoding (the same limit
the serving signature applies).
"""

import io
import warnings

import numpy as np

# Largest image any reader decodes (the header is read first): 40 megapixels.
MAX_PIXELS = 40_000_000


class ImageTooLargeError(ValueError):
    """An image whose header states more pixels than the limit (the message names it)."""


def check_pixels(width, height, where, max_pixels=MAX_PIXELS):
    """Raises `ImageTooLargeError` naming `where` if width x height exceeds `max_pixels`."""
    if int(width) * int(height) > max_pixels:
        raise ImageTooLargeError(
            f"{where}: the image is {int(width)} x {int(height)} = {int(width) * int(height)} pixels, more than "
            f"max_pixels={max_pixels}"
        )


def decode_image(data, where, max_pixels=MAX_PIXELS):
    """Decodes JPEG / PNG bytes to uint8 RGB pixels, after checking the header's size.

    JPEG goes through libjpeg's accurate integer DCT (PIL's default), which is
    what OpenCV and MXNet give too.

    Args:
        data: the encoded bytes.
        where: what to name in errors (file and index).
        max_pixels: the size limit. Defaults to `MAX_PIXELS`.

    Returns:
        uint8 array (H, W, 3).

    Raises:
        ImageTooLargeError: the header states more than `max_pixels` pixels.
        ValueError: bytes that are not a decodable image.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():  # PIL's own, looser bomb warning: the limit here is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
    except Image.DecompressionBombError as error:  # over twice PIL's limit, refused at open
        raise ImageTooLargeError(f"{where}: {error}; more than max_pixels={max_pixels}")
    except Exception as error:  # PIL raises several types for bad bytes
        raise ValueError(f"{where} cannot be decoded: {error}")
    with image:
        check_pixels(image.width, image.height, where, max_pixels)
        try:
            return np.asarray(image.convert("RGB"))
        except Exception as error:
            raise ValueError(f"{where} cannot be decoded: {error}")
