"""Checking an uploaded picture and making its thumbnail (Pillow)."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

ALLOWED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
THUMBNAIL_BOX = (320, 320)


class BadImage(ValueError):
    """Not a JPEG, PNG or WebP picture we accept (the reason is in the message)."""


@dataclass(frozen=True)
class CheckedImage:
    content_type: str
    width: int
    height: int
    thumbnail: bytes  # WebP


def check_image(data: bytes, *, max_pixels: int) -> CheckedImage:
    """The type is read from the bytes, never from the client's word; the picture is
    decoded in full (a truncated or forged file fails here) and thumbnailed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format or ""
                width, height = probe.size
                if kind not in ALLOWED:
                    raise BadImage("send a JPEG, PNG or WebP picture")
                if width * height > max_pixels:
                    raise BadImage(f"picture larger than {max_pixels} pixels")
                probe.verify()
            with Image.open(io.BytesIO(data)) as opened:
                opened.load()
                opened.thumbnail(THUMBNAIL_BOX)
                thumb: Image.Image = opened
                if thumb.mode not in ("RGB", "RGBA"):
                    thumb = thumb.convert("RGBA" if "A" in thumb.getbands() else "RGB")
                out = io.BytesIO()
                thumb.save(out, format="WEBP", quality=80)
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard fires in Image.open, before our check sees the size: the
        # same answer, naming the limit that applied (the smaller of the two).
        limit = min(max_pixels, Image.MAX_IMAGE_PIXELS or max_pixels)
        raise BadImage(f"picture larger than {limit} pixels") from None
    except UnidentifiedImageError:
        raise BadImage("not a picture we can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadImage(f"damaged picture: {exc}") from None
    return CheckedImage(ALLOWED[kind], width, height, out.getvalue())
