"""An image -> the input of a model that is not an MNIST digit reader: resized to its H×W, in colour for C = 3.

    pre = image_to_resized_input(raw, limits, (3, 32, 32))   -> Resized: input (3, 32, 32) in [0, 1], and its steps

MNIST's preprocessing (app.services.images.preprocess: crop to the ink, 20 px box, centre of mass) is what a digit
model expects; a model trained on photos (CIFAR's 32×32, any C×H×W) expects the whole picture scaled to its size, as
torchvision's Resize does. Decoding is images.py's: the same formats, the same pixel limit against decompression
bombs, EXIF orientation, the first frame; transparency goes over white. Mean/std normalization, when the model has
one, is applied by the network service to the [0, 1] values made here (NetworkService.normalize).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from app.services.images import _EXIF_TRANSPOSE, ImageLimits, opened

# Shown beside the input: the decoded picture, its longer side shrunk to at most this (page-sized, a few hundred KB).
DISPLAY_MAX_SIDE = 256


@dataclass(frozen=True)
class Resized:
    input: np.ndarray  # (H, W) for one channel, else (C, H, W); float64 in [0, 1]
    steps: dict[str, np.ndarray]  # "original": the decoded picture, shrunk for display; "resized": = input


def _channels_first(img: Image.Image, channels: int) -> np.ndarray:
    """An RGB image -> float64 in [0, 1]: (H, W) grey (ITU-R 601-2 luminance) for one channel, else (3, H, W)."""
    if channels == 1:
        return np.asarray(img.convert("L"), dtype=np.float64) / 255
    return np.asarray(img, dtype=np.float64).transpose(2, 0, 1) / 255  # (H, W, 3) -> (3, H, W)


def image_to_resized_input(data: bytes, limits: ImageLimits, shape: tuple[int, int, int]) -> Resized:
    """Image bytes -> Resized for a model reading `shape` = (C, H, W): the whole picture scaled to W×H (bicubic,
    with Pillow's reducing gap, so a large photo is first reduced by whole factors). Raises ImageError or TooLarge."""
    C, H, W = shape
    with opened(data, limits) as (img, orientation):
        if img.format == "JPEG":
            img.draft("RGB", (max(W, DISPLAY_MAX_SIDE), max(H, DISPLAY_MAX_SIDE)))  # decoded at 1/2, 1/4, 1/8
        img.load()
        if img.mode in ("P", "PA") or "transparency" in img.info or img.mode in ("RGBA", "LA", "RGBa", "La"):
            rgba = img.convert("RGBA")
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
        img = img.convert("RGB")
        if transpose := _EXIF_TRANSPOSE.get(orientation):
            img = img.transpose(transpose)
    resized = _channels_first(img.resize((W, H), Image.Resampling.BICUBIC, reducing_gap=2.0), C)
    resized = np.clip(resized, 0.0, 1.0)
    scale = min(1.0, DISPLAY_MAX_SIDE / max(img.size))
    shown = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                       Image.Resampling.BILINEAR, reducing_gap=2.0) if scale < 1 else img
    return Resized(input=resized, steps={"original": _channels_first(shown, C), "resized": resized})
