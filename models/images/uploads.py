"""What finfer checks about an uploaded JPEG/PNG before decoding it: format, size, completeness.

Pillow reads the header only, so the front refuses a bad upload for microseconds of CPU, and it
needs no OpenCV.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 4096 * 4096


class ImageError(ValueError):
    """The upload is not an image finfer can read; the message is for the client."""


def check_image(data: bytes) -> tuple[int, int]:
    """Width and height of a JPEG/PNG, from its header and end marker only (no decode), or ImageError
    saying what is wrong: cheap enough for the front to refuse bad uploads before the pipeline."""
    if len(data) == 0:
        raise ImageError("image is empty (0 bytes)")
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageError(f"image is {len(data)} bytes; the limit is {MAX_IMAGE_BYTES}")
    width, height = image_size(data)
    if width == 0 or height == 0:
        raise ImageError(f"image is {width}×{height} pixels: zero-sized")
    if width * height > MAX_PIXELS:
        raise ImageError(f"image is {width}×{height} pixels; the limit is {MAX_PIXELS} pixels")
    if not _is_complete(data):
        raise ImageError("image is truncated: its end marker is missing")
    return width, height


def _is_complete(data: bytes) -> bool:
    """JPEG ends with EOI, PNG with an IEND chunk; decoders fill a cut-off image with grey instead of failing."""
    tail = data.rstrip(b"\0")
    return tail.endswith(b"\xff\xd9") or tail[-12:-4] == b"\0\0\0\0IEND"


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header alone, so a huge image is refused before it is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in ("JPEG", "PNG"):
                raise ImageError(f"image format {image.format} is not supported; send JPEG or PNG")
            return image.size
    except UnidentifiedImageError as error:
        raise ImageError("not an image: send JPEG or PNG bytes") from error
    except (OSError, SyntaxError) as error:
        raise ImageError(f"image header is unreadable: {error}") from error
