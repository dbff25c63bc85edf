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


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
# JPEG start-of-frame markers (baseline, progressive, lossless, ...): they carry the image size.
_JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def encoded_size(data):
    """(width, height) stated by the header of JPEG or PNG bytes, without decoding; None if neither.

    PNG: the IHDR chunk's big-endian width and height. JPEG: the first
    start-of-frame segment, found by walking the marker segments.
    """
    data = bytes(data[:65536]) if len(data) > 65536 else bytes(data)
    if data.startswith(PNG_SIGNATURE) and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if not data.startswith(JPEG_SIGNATURE):
        return None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0x01,) or 0xD0 <= marker <= 0xD9:  # markers without a length
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if marker in _JPEG_FRAME_MARKERS and position + 9 <= len(data):
            height = int.from_bytes(data[position + 5:position + 7], "big")
            width = int.from_bytes(data[position + 7:position + 9], "big")
            return width, height
        position += 2 + length
    return None


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
