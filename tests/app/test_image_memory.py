"""Large images are decoded with bounded memory (app.services.images: JPEG draft, whole-factor reduction in 8-bit grey
a strip at a time) and still read the same way: orientation, transparency, depth, the display steps' size."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps

from app.services import images
from app.services.images import DISPLAY_MAX_SIDE, WORK_MAX_SIDE, ImageLimits, image_to_input
from benchmarks.image_memory import make_image, peak_rss_mb

PEAK_MB = 150
BIG = ImageLimits(max_bytes=64 * 2**20)


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize(("mode", "fmt"), [("L", "PNG"), ("RGBA", "PNG"), ("RGB", "JPEG")])
def test_an_image_at_the_pixel_limit_costs_under_150_mb_at_peak(mode: str, fmt: str) -> None:
    """16 megapixels, the default limit, in a fresh process: the peak resident set, imports included."""
    data = make_image(4096, mode, fmt)
    base, peak = peak_rss_mb(data)
    assert peak < PEAK_MB, f"{mode} {fmt}: {peak} MB at peak ({base} MB after imports)"


@pytest.mark.parametrize("size", [(2500, 1700), (1031, 3001), (4096, 4096)])
@pytest.mark.parametrize("mode", ["RGBA", "RGB", "P", "I;16"])
def test_shrinking_a_strip_at_a_time_is_shrinking_the_whole(size: tuple[int, int], mode: str) -> None:
    rng = np.random.default_rng(0)
    small = Image.fromarray(rng.integers(0, 256, (size[1] // 16, size[0] // 16, 4), dtype=np.uint8), "RGBA")
    img = small.resize(size, Image.Resampling.NEAREST)
    img = img.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(img.convert("L"), np.uint16) * 257)
    factor = images._reduce_factor(img.size)
    shrunk = images._shrink(img)
    assert max(shrunk.size) <= WORK_MAX_SIDE < max(size)
    whole = images._gray_mode(img).reduce(factor)
    assert shrunk.mode == whole.mode and shrunk.size == whole.size
    assert np.array_equal(np.asarray(shrunk), np.asarray(whole))


def test_a_big_photo_reads_as_the_same_drawing_small() -> None:
    big = image_to_input(make_image(4096, "L", "PNG"), BIG)
    small = image_to_input(make_image(512, "L", "PNG"), BIG)
    assert np.abs(big.input - small.input).mean() < 0.02
    assert max(big.steps["grayscale"].shape) <= DISPLAY_MAX_SIDE
    assert max(big.steps["inverted"].shape) <= DISPLAY_MAX_SIDE
    assert max(big.steps["cropped"].shape) <= DISPLAY_MAX_SIDE
    assert big.display_scale < 1.0


def test_a_big_transparent_drawing_and_a_big_jpeg_read_like_the_grey_one() -> None:
    grey = image_to_input(make_image(3000, "L", "PNG"), BIG).input
    for data in (make_image(3000, "RGBA", "PNG"), make_image(3000, "RGB", "JPEG")):
        assert np.abs(image_to_input(data, BIG).input - grey).mean() < 0.02


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_a_big_jpeg_is_turned_upright_by_its_exif_orientation(orientation: int) -> None:
    """The tag is applied after the shrinking, as Pillow's own ImageOps.exif_transpose applies it at full size."""
    picture = Image.open(io.BytesIO(make_image(3000, "RGB", "JPEG"))).convert("RGB")
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = orientation
    data = encode(picture, "JPEG", quality=90, exif=exif.tobytes())
    upright = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    expected = image_to_input(encode(upright, "PNG"), BIG)
    result = image_to_input(data, BIG)
    assert np.abs(result.input - expected.input).mean() < 0.02
    if orientation != 1:  # and the tag made a difference the test can see
        assert np.abs(result.input - image_to_input(encode(picture, "PNG"), BIG).input).mean() > 0.05
