"""A learner's image bytes -> the 28×28 input the network reads, made the way MNIST was made.

    raw = decode_data_url(url, limits)      a canvas's "data:image/png;base64,..." -> bytes
    gray = load_grayscale(raw, limits)      bytes -> float64 (H, W) in [0, 1], 1 = white, H and W ≤ WORK_MAX_SIDE
    pre = preprocess(gray)                  -> Preprocessed: input (28, 28), white digit on black, and every step
    pre = image_to_input(raw)               load_grayscale + preprocess

Every refusal is an `ImageError` (an AppError: HTTP status, stable machine code, a message a person can act on) or
the one `TooLarge`, so a route turns any of them into a response without knowing the cases. The geometry of the MNIST
steps (bounding box, resampling, centring) lives in geometry.py; this module decides what is ink and what is an error.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import urllib.parse
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from PIL import Image, UnidentifiedImageError

from app.errors import AppError, TooLarge
from app.services import geometry, photo

ACCEPTED_FORMATS: Final = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
_MB: Final = 1024 * 1024


# ------------------------------------------------------------------------------------------------------ errors


class ImageError(AppError):
    """An image we cannot turn into an input."""

    code = "image_error"


class TooManyPixelsError(ImageError):
    """Width × height over ImageLimits.max_pixels, or over Pillow's own decompression-bomb limit."""

    status_code, code = 413, "too_many_pixels"


class NotAnImageError(ImageError):
    """Not decodable as an image at all, or truncated or damaged. 422, not 400: the request arrived intact, its
    content is what cannot be used."""

    status_code, code = 422, "not_an_image"


class UnsupportedFormatError(ImageError):
    """A real image in a format outside ACCEPTED_FORMATS (TIFF, ICO, ...)."""

    status_code, code = 415, "unsupported_format"


class BadDataUrlError(ImageError):
    """Not a 'data:image/...' URL, or its base64 is broken."""

    status_code, code = 400, "bad_data_url"


class EmptyImageError(ImageError):
    """No ink: a blank, uniform or fully transparent image."""

    status_code, code = 422, "empty_image"


SMALLER_IMAGE = "Send a smaller image: crop it or save it at a lower resolution."


def image_too_large(size: int, limit: int, at_least: bool = False) -> TooLarge:
    return TooLarge("The image", size, limit, at_least=at_least, advice=SMALLER_IMAGE)


@dataclass(frozen=True)
class ImageLimits:
    """What we agree to decode. max_pixels (width × height) guards memory against decompression bombs: a PNG of
    a few kilobytes can declare 50 000 × 50 000 pixels."""

    max_bytes: int = 5 * _MB
    max_pixels: int = 4096 * 4096


# --------------------------------------------------------------------------------------------------- data URLs


def decode_data_url(url: str, limits: ImageLimits) -> bytes:
    """'data:image/<type>[;base64],<payload>' (RFC 2397, what canvas.toDataURL gives) -> the image bytes.

    A payload without ';base64' is percent-encoded, as the RFC allows. The size limit is checked before decoding,
    on the least the payload can decode to, and again on the decoded bytes.
    """
    url = url.strip()
    header, comma, payload = url.partition(",")
    if header[:5].lower() != "data:" or not comma:
        raise BadDataUrlError(
            f"Expected a data URL like 'data:image/png;base64,iVBOR...', got text starting {url[:30]!r}."
        )
    mime, *params = [part.strip().lower() for part in header[5:].split(";")]
    if not mime.startswith("image/"):
        raise BadDataUrlError(f"The data URL holds {mime or 'text/plain'!r}, not an image: expected 'data:image/...'.")
    if "base64" in params:
        # Canvas output has no whitespace; refusing it keeps "how many bytes can this be?" exact.
        payload = payload.rstrip("=")
        least = len(payload) * 3 // 4  # unpadded base64: every 4 characters carry 3 bytes
        if least > limits.max_bytes:
            raise image_too_large(least, limits.max_bytes, at_least=True)
        try:
            data = base64.b64decode(payload + "=" * (-len(payload) % 4), validate=True)
        except (binascii.Error, ValueError) as e:
            raise BadDataUrlError(f"The data URL's base64 part is not valid base64 ({e}).") from None
    else:
        if len(payload) // 3 > limits.max_bytes:  # "%XX" is the most a byte can take
            raise image_too_large(len(payload) // 3, limits.max_bytes, at_least=True)
        data = urllib.parse.unquote_to_bytes(payload)
    if len(data) > limits.max_bytes:
        raise image_too_large(len(data), limits.max_bytes)
    return data


# ----------------------------------------------------------------------------------------------------- decoding


def load_grayscale(data: bytes, limits: ImageLimits) -> np.ndarray:
    """Image bytes -> float64 (H, W) in [0, 1], 1 = white.

    EXIF orientation applied, first frame of an animation, transparency composited over a background that contrasts
    with the ink, then ITU-R 601-2 luminance (Pillow's "L": 0.299 R + 0.587 G + 0.114 B).

    An image whose longer side is over WORK_MAX_SIDE comes back shrunk by a whole factor, made in 8-bit grey as it
    is decoded (a JPEG at a reduced scale by its decoder, others a strip at a time): the largest image allowed (16
    megapixels) costs about its decoded size, never a float64 array of its full size.
    """
    with opened(data, limits) as (img, orientation):
        if img.format == "JPEG" and max(img.size) > WORK_MAX_SIDE:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale straight to grey: the full-size colour image never exists.
            img.draft("L", _shrunk_size(img.size, _reduce_factor(img.size)))
        # The first frame only. A truncated file raises here because ImageFile.LOAD_TRUNCATED_IMAGES is left
        # False: a half-decoded digit would be classified as if it were whole.
        img.load()
        img = _shrink(img)
        if transpose := _EXIF_TRANSPOSE.get(orientation):
            img = img.transpose(transpose)  # phones store photos sideways and say so in EXIF
        return _to_gray(img)


@contextmanager
def opened(data: bytes, limits: ImageLimits) -> Iterator[tuple[Image.Image, int]]:
    """The image within `limits`, opened (its header read, no pixel decoded yet), and its EXIF orientation; whatever
    fails while the `with` body decodes it becomes an ImageError a person can act on. Shared by every decoder here
    (load_grayscale, and app.services.resize for models that read whole pictures)."""
    if len(data) > limits.max_bytes:
        raise image_too_large(len(data), limits.max_bytes)
    # Pillow's own bomb check warns above Image.MAX_IMAGE_PIXELS and raises above twice that: both refuse here.
    # catch_warnings restores the warning filters on exit, so no global state outlives the call.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = _open(data)
            pixels = img.width * img.height  # read from the header: no pixel is decoded yet
            if pixels > limits.max_pixels:
                raise TooManyPixelsError(
                    f"The image is {img.width} × {img.height} = {pixels:,} pixels; the limit is "
                    f"{limits.max_pixels:,} pixels. Send a smaller image."
                )
            yield img, img.getexif().get(ORIENTATION_TAG, 1)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise TooManyPixelsError(
                f"The image declares more pixels than can be decoded safely; the limit is {limits.max_pixels:,} "
                "pixels. Send a smaller image."
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as e:
            raise NotAnImageError(
                f"The image could not be decoded: it may be truncated or damaged ({e}). Save it again and resend it."
            ) from None


def _open(data: bytes) -> Image.Image:
    """Open lazily (the header only) among ACCEPTED_FORMATS; for anything else, say what it is if Pillow knows."""
    accepted = ", ".join(ACCEPTED_FORMATS)
    try:
        return Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        pass
    try:  # only to name the format in the message: no other plugin ever decodes pixels
        with Image.open(io.BytesIO(data)) as other:
            found = other.format
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        raise NotAnImageError(f"The file is not an image that can be read. Send a {accepted} image.") from None
    raise UnsupportedFormatError(f"{found} images are not accepted. Send a {accepted} image.")


# Images whose longer side is above this are shrunk by a whole factor, in 8-bit grey, as they are decoded: 1024 px
# is still fifty times the 20 px the digit ends up at, and keeps every float64 array of preprocessing under 8 MB.
WORK_MAX_SIDE: Final = 1024
# Rows of the decoded image converted and shrunk at a time (× the factor): the only full-width temporaries.
STRIP_ROWS: Final = 64
ORIENTATION_TAG: Final = 0x0112
_EXIF_TRANSPOSE: Final = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _reduce_factor(size: tuple[int, int]) -> int:
    """The whole factor that brings the longer side to at most WORK_MAX_SIDE (1: no shrinking)."""
    return -(-max(size) // WORK_MAX_SIDE)


def _shrunk_size(size: tuple[int, int], factor: int) -> tuple[int, int]:
    return -(-size[0] // factor), -(-size[1] // factor)


def _gray_mode(img: Image.Image) -> Image.Image:
    """Any Pillow mode -> the fewest bytes per pixel _to_gray reads the same way: "L", "LA" (transparency kept for
    _composite), "I" (16-bit depth kept) or "F"."""
    if img.mode.startswith("I"):
        return img.convert("I") if img.mode != "I" else img
    if img.mode in ("P", "PA") or "transparency" in img.info or img.mode in ("RGBA", "LA", "RGBa", "La"):
        return img.convert("RGBA").convert("LA")
    if img.mode in ("F", "L"):
        return img
    if img.mode not in ("1", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return img.convert("L")


def _shrink(img: Image.Image) -> Image.Image:
    """A loaded image larger than WORK_MAX_SIDE -> grey ("L", "LA", "I" or "F") shrunk by a whole factor (each
    output pixel the mean of a factor × factor block, alpha-weighted); smaller images are returned as they are.

    Converted and reduced a strip of rows at a time, so that besides the decoded image only one strip's copies and
    the small result exist: reducing a whole RGBA image would first make a premultiplied copy of all of it. The strips
    start at multiples of the factor, so the blocks are those of reducing the whole image at once.
    """
    factor = _reduce_factor(img.size)
    if factor < 2:
        return img
    width, height = img.size
    rows = STRIP_ROWS * factor
    strips = [_gray_mode(img.crop((0, top, width, min(height, top + rows)))).reduce(factor)
              for top in range(0, height, rows)]
    out = Image.new(strips[0].mode, _shrunk_size(img.size, factor))
    for i, strip in enumerate(strips):
        out.paste(strip, (0, i * STRIP_ROWS))
    return out


def _to_gray(img: Image.Image) -> np.ndarray:
    """A loaded image in any Pillow mode -> float64 (H, W) in [0, 1], 1 = white."""
    if img.mode.startswith("I"):  # "I;16", "I;16B", "I" (16-bit PNG): the range is 0..65535, not 0..255
        return np.clip(np.asarray(img, dtype=np.float64) / 65535, 0.0, 1.0)  # a 16-bit tRNS colour is ignored
    if img.mode in ("P", "PA") or "transparency" in img.info:
        img = img.convert("RGBA")  # palette indices -> colours; a tRNS chunk or GIF transparency -> alpha
    if img.mode == "F":  # no accepted format yields it; Pillow's convention for "F" is the 0..255 scale of "L"
        return np.clip(np.asarray(img, dtype=np.float64) / 255, 0.0, 1.0)
    if img.mode in ("RGBA", "LA", "RGBa", "La"):
        la = np.asarray(img.convert("RGBA").convert("LA"), dtype=np.float64) / 255  # (H, W, 2): luminance, alpha
        return _composite(la[..., 0], la[..., 1])
    if img.mode not in ("1", "L", "RGB"):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return np.asarray(img.convert("L"), dtype=np.float64) / 255


def _composite(lum: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(H, W) luminance and alpha -> (H, W) luminance flattened over a background that contrasts with the ink.

    A canvas may send dark or light strokes on a transparent background, whose hidden colour (often black at alpha 0)
    means nothing. So look at what is visible: if the mostly-opaque pixels are dark, the ink is dark and goes over
    white; if light, over black. With nothing visible at all the result is blank, and preprocess says so.
    """
    if alpha.min() >= 1.0:
        return lum
    visible = alpha >= 0.5
    if visible.any():
        ink = float(np.median(lum[visible]))
    elif alpha.sum() > 0:  # only faint strokes: weigh each pixel by how visible it is
        ink = float((lum * alpha).sum() / alpha.sum())
    else:
        return np.ones_like(lum)
    background = 1.0 if ink < 0.5 else 0.0
    return lum * alpha + background * (1.0 - alpha)


# ------------------------------------------------------------------------------------------------ preprocessing

# Of the brightest ink: pixels fainter than this (JPEG noise, the far tail of anti-aliasing) stay out of the box.
INK_THRESHOLD: Final = 0.1
# Brightest ink above the background below this: nothing was drawn. A blank JPEG's noise stays well under it.
MIN_INK: Final = 0.1
# Shares of the picture taken for ink outside which the result is doubted aloud (`doubts`): an MNIST-like digit
# photographed with a margin covers a few percent of the frame; a drawing on the page's pad, 3–15 %.
TOO_LITTLE_INK: Final = 0.002
TOO_MUCH_INK: Final = 0.35
# Longest side of the "grayscale", "inverted" and "cropped" steps as kept for display: a photo stays a few hundred
# kilobytes on the wire; a canvas (usually ≤ 560 px) is kept as it is.
DISPLAY_MAX_SIDE: Final = 560


@dataclass
class Preprocessed:
    """The network's input and every step that made it, so the page can show what the network really sees."""

    input: np.ndarray  # (28, 28) float64 in [0, 1], white digit on black like MNIST; = steps["centered"]
    steps: dict[str, np.ndarray]  # in order: grayscale, inverted, cropped, scaled, centered; see preprocess
    inverted: bool  # the background was light, so the image was inverted to white ink on black
    bbox: tuple[int, int, int, int]  # (top, left, bottom, right) of the ink in the grayscale image, slice-exclusive
    center_of_mass: tuple[float, float]  # (row, col) in the scaled digit, before placement
    offset: tuple[int, int]  # (row, col) of the scaled digit's top-left corner in the 28×28 input
    background: float  # the level subtracted after inversion: the median of the border
    display_scale: float  # grayscale, inverted and cropped were shrunk by this factor for display; 1 = full size
    photographed: bool = False  # the paper was lit unevenly or noisy, so its level was found everywhere (photo.py)
    warnings: list[str] = field(default_factory=list)  # what looks wrong with the result, in words (`doubts`)


def preprocess(gray: np.ndarray) -> Preprocessed:
    """(H, W) in [0, 1], 1 = white -> Preprocessed whose input is (28, 28), white digit on black, as MNIST made it.

    1. inverted: the background is light when the median of the outermost rows and columns is above 0.5; then
       the image is inverted. The border's median is then subtracted, so grey paper becomes black like MNIST's.
    2. ink: pixels above INK_THRESHOLD × the brightest; nothing above MIN_INK -> EmptyImageError.
    3. cropped: to the ink's bounding box.
    4. scaled: the longer side to 20 px, aspect kept (Lanczos), then stretched so the brightest pixel is 1.0:
       MNIST digits reach full intensity, and a light-grey drawing should too.
    5. centered: pasted on 28×28 black with its centre of mass at (14, 14), by whole pixels, never cut off.
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.ndim != 2 or gray.size == 0 or not np.isfinite(gray).all():
        raise ValueError(f"preprocess expects a finite (H, W) array, got shape {gray.shape}")
    edge = geometry.border(gray)
    inverted = bool(np.median(edge) > 0.5)
    photographed = photo.looks_photographed(gray)
    if photographed:  # uneven lighting, noise: the paper's level is found everywhere, not once (app.services.photo)
        ink, background = photo.photo_ink(gray, inverted), 0.0
    else:
        ink = 1.0 - gray if inverted else gray
        background = float(np.median(1.0 - edge if inverted else edge))
        ink = np.clip(ink - background, 0.0, 1.0)
    peak = float(ink.max())
    if peak < MIN_INK:
        raise EmptyImageError(
            "The image is blank: nothing stands out from the background (a uniform or empty canvas). "
            "Draw a digit, or send a picture of one, and try again."
        )
    mask = ink > INK_THRESHOLD * peak
    top, left, bottom, right = geometry.bounding_box(mask)
    cropped = ink[top:bottom, left:right]
    scaled = geometry.fit_box(cropped)
    scaled /= scaled.max()  # > 0: the crop holds the brightest pixel, and Lanczos keeps a positive mass positive
    com = geometry.center_of_mass(scaled)
    centered, offset = geometry.place(scaled, com)
    display_scale = min(1.0, DISPLAY_MAX_SIDE / max(gray.shape))
    steps = {
        "grayscale": geometry.shrink(gray, display_scale),
        "inverted": geometry.shrink(ink, display_scale),
        "cropped": geometry.shrink(cropped, display_scale),
        "scaled": scaled,
        "centered": centered,
    }
    return Preprocessed(
        input=centered,
        steps=steps,
        inverted=inverted,
        bbox=(top, left, bottom, right),
        center_of_mass=com,
        offset=offset,
        background=background,
        display_scale=display_scale,
        photographed=photographed,
        warnings=doubts(mask, (top, left, bottom, right)),
    )


def doubts(mask: np.ndarray, bbox: tuple[int, int, int, int]) -> list[str]:
    """What looks wrong in what was taken for ink, in words for the learner (shown beside the input): the network
    reads what it is given, and a digit cut off or lost in a busy background is misread however good the network."""
    h, w = mask.shape
    top, left, bottom, right = bbox
    share = float(mask.mean())
    found = []
    if top == 0 or left == 0 or bottom == h or right == w:
        found.append("The ink touches the edge of the picture: part of the digit may be cut off. Leave a margin "
                     "around it.")
    if share < TOO_LITTLE_INK:
        found.append(f"Very little ink was found ({share:.2%} of the picture): the digit may be too small or too "
                     "faint. Fill more of the picture with it.")
    if share > TOO_MUCH_INK:
        found.append(f"Much of the picture reads as ink ({share:.0%}): the background may not be plain. "
                     "Photograph the digit on plain paper, evenly lit.")
    return found


def image_to_input(data: bytes, limits: ImageLimits | None = None) -> Preprocessed:
    """Image bytes -> Preprocessed: load_grayscale, then preprocess. Raises ImageError (see the subclasses)."""
    return preprocess(load_grayscale(data, limits if limits is not None else ImageLimits()))
