"""cnn.augment: the affine warp checked exactly against pixel moves and np.rot90, and augment on real digits.

affine_warp's formula is out(p) = image(M·(p − c) + c − t): M maps output offsets (row, col) to input offsets, so
M = [[0, −1], [1, 0]] reads out[y, x] = image[H − 1 − x, y], which is np.rot90(image, −1), and t moves content by
+t pixels. Every case below samples exactly on the pixel grid, so the results are asserted bit for bit.
"""

from pathlib import Path

import numpy as np
import pytest

from cnn.augment import Augmentation, affine_warp, augment
from cnn.data import load_mnist

IDENTITY = np.eye(2)
QUARTER_TURN = np.array([[0.0, -1.0], [1.0, 0.0]])  # out[y, x] = image[H - 1 - x, y]: np.rot90(image, -1)
GEOMETRY_ONLY = Augmentation(max_rotation_deg=0.0, scale_range=(1.0, 1.0), max_shift_px=0.0)


def warp(images: np.ndarray, matrix: np.ndarray, shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """The same matrix and shift for every image of the batch."""
    N = len(images)
    return affine_warp(images, np.broadcast_to(matrix, (N, 2, 2)), np.broadcast_to(np.array(shift), (N, 2)))


@pytest.fixture
def images() -> np.ndarray:
    """Random float32 images in [0, 1], non-square so rows and columns cannot be mixed up unnoticed."""
    return np.random.default_rng(0).random((3, 28, 24), dtype=np.float32)


@pytest.fixture(scope="module")
def digits(mnist_dir: Path) -> np.ndarray:
    """The first 500 real training digits as float32 (N, 28, 28) in [0, 1]."""
    images, _ = load_mnist("train", mnist_dir)
    return images[:500].astype(np.float32) / 255.0


def ink(images: np.ndarray) -> np.ndarray:
    return images.sum(axis=(1, 2), dtype=np.float64)


# ------------------------------------------------------------------------------------------------ affine_warp


def test_identity_with_no_shift_reproduces_the_input_exactly(images: np.ndarray) -> None:
    np.testing.assert_array_equal(warp(images, IDENTITY), images)


def test_warp_keeps_shape_and_float32(images: np.ndarray) -> None:
    # float32 is what training feeds it; a float64 result doubles the memory of every augmented epoch.
    out = warp(images, QUARTER_TURN.T / 1.1, (0.5, -0.25))
    assert out.shape == images.shape
    assert out.dtype == np.float32


@pytest.mark.parametrize("shift", [(2, 3), (-1, 4), (0, -5), (3, 0)])
def test_an_integer_shift_moves_content_by_exactly_that_many_pixels(images: np.ndarray, shift: tuple[int, int]) -> None:
    ty, tx = shift
    H, W = images.shape[1:]
    expected = np.zeros_like(images)
    # Content at (y, x) lands at (y + ty, x + tx); whatever comes in from outside the image is 0.
    expected[:, max(ty, 0) : H + min(ty, 0), max(tx, 0) : W + min(tx, 0)] = images[
        :, max(-ty, 0) : H + min(-ty, 0), max(-tx, 0) : W + min(-tx, 0)
    ]
    np.testing.assert_array_equal(warp(images, IDENTITY, (float(ty), float(tx))), expected)


def test_a_shift_past_the_border_leaves_an_empty_image(images: np.ndarray) -> None:
    np.testing.assert_array_equal(warp(images, IDENTITY, (30.0, 0.0)), np.zeros_like(images))


@pytest.mark.parametrize("size", [28, 27])  # an even size puts the centre between pixels, an odd one on a pixel
def test_the_quarter_turn_matrix_equals_rot90_in_the_direction_the_formula_gives(size: int) -> None:
    square = np.random.default_rng(1).random((2, size, size), dtype=np.float32)
    np.testing.assert_array_equal(warp(square, QUARTER_TURN), np.rot90(square, -1, axes=(1, 2)))
    np.testing.assert_array_equal(warp(square, QUARTER_TURN.T), np.rot90(square, 1, axes=(1, 2)))
    np.testing.assert_array_equal(warp(square, -IDENTITY), np.rot90(square, 2, axes=(1, 2)))


@pytest.mark.parametrize("scale", [0.5, 0.8, 1.25, 2.0])
def test_a_scale_keeps_the_centre_fixed(scale: float) -> None:
    square = np.random.default_rng(2).random((2, 29, 29), dtype=np.float32)  # centre pixel (14, 14)
    out = warp(square, IDENTITY / scale)  # the inverse map: a zoom by `scale`
    np.testing.assert_array_equal(out[:, 14, 14], square[:, 14, 14])


def test_a_scale_zooms_about_the_centre_not_the_corner() -> None:
    dot = np.zeros((1, 29, 29), dtype=np.float32)
    dot[0, 14 + 2, 14 - 3] = 1.0  # offset (2, -3) from the centre
    out = warp(dot, IDENTITY / 2.0)  # zoom by 2: the offset doubles
    assert out[0, 14 + 4, 14 - 6] == 1.0
    assert out.sum() == pytest.approx(4.0, abs=1e-5)  # ...and the one pixel spreads bilinearly over 2 × 2


def test_warped_values_stay_in_the_unit_interval(images: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    matrices = rng.normal(size=(len(images), 2, 2))
    shifts = rng.uniform(-3, 3, (len(images), 2))
    out = affine_warp(images, matrices, shifts)
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert out.max() > 0.0


# ---------------------------------------------------------------------------------------------------- augment


STRONG = Augmentation(max_rotation_deg=45, scale_range=(0.5, 1.5), max_shift_px=5, thicken_prob=0.5, thin_prob=0.5)


@pytest.mark.parametrize("config", [Augmentation(), STRONG], ids=["default", "strong"])
def test_augment_stays_in_the_unit_interval(images: np.ndarray, config: Augmentation) -> None:
    out = augment(images, np.random.default_rng(0), config)
    assert out.shape == images.shape
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("config", [Augmentation(), STRONG], ids=["default", "strong"])
def test_augment_keeps_float32(images: np.ndarray, config: Augmentation) -> None:
    assert augment(images, np.random.default_rng(0), config).dtype == np.float32


def test_augment_does_not_change_its_input(images: np.ndarray) -> None:
    before = images.copy()
    augment(images, np.random.default_rng(0))
    np.testing.assert_array_equal(images, before)


def test_augment_is_fixed_by_the_rng_seed(digits: np.ndarray) -> None:
    first = augment(digits, np.random.default_rng(7))
    np.testing.assert_array_equal(augment(digits, np.random.default_rng(7)), first)
    assert not np.array_equal(augment(digits, np.random.default_rng(8)), first)
    assert not np.array_equal(first, digits)


def test_augment_with_every_range_zero_is_the_identity(digits: np.ndarray) -> None:
    nothing = Augmentation(max_rotation_deg=0, scale_range=(1, 1), max_shift_px=0, thicken_prob=0, thin_prob=0)
    np.testing.assert_array_equal(augment(digits, np.random.default_rng(0), nothing), digits)


@pytest.mark.parametrize("scale", [0.85, 1.12])
def test_a_fixed_scale_changes_ink_by_its_square(digits: np.ndarray, scale: float) -> None:
    config = Augmentation(max_rotation_deg=12, scale_range=(scale, scale), max_shift_px=2, thicken_prob=0, thin_prob=0)
    ratio = ink(augment(digits, np.random.default_rng(0), config)) / ink(digits) / scale**2
    # Bilinear resampling is not exactly mass-preserving, and a zoomed, shifted digit can lose an edge to the border.
    assert ratio.min() > 0.85 and ratio.max() < 1.1


def test_default_augmentation_keeps_ink_within_a_plausible_range(digits: np.ndarray) -> None:
    ratio = ink(augment(digits, np.random.default_rng(0))) / ink(digits)
    # Geometry alone changes ink by scale² ∈ [0.72, 1.25]; thinning removes at most 60 % of what is left, and a full
    # 3×3 dilation can roughly triple a one-pixel stroke. Typical digits barely change.
    assert ratio.min() > 0.25 and ratio.max() < 4.0
    assert 0.9 < np.median(ratio) < 1.1


def test_thickening_adds_ink_to_every_digit(digits: np.ndarray) -> None:
    config = Augmentation(max_rotation_deg=0, scale_range=(1, 1), max_shift_px=0, thicken_prob=1.0, thin_prob=0.0)
    out = augment(digits, np.random.default_rng(0), config)
    assert np.all(out >= digits)  # a dilation blend never darkens a pixel
    assert np.all(ink(out) > ink(digits))


def test_thinning_removes_ink_from_every_digit(digits: np.ndarray) -> None:
    config = Augmentation(max_rotation_deg=0, scale_range=(1, 1), max_shift_px=0, thicken_prob=0.0, thin_prob=1.0)
    out = augment(digits, np.random.default_rng(0), config)
    assert np.all(out <= digits)  # an erosion blend never brightens a pixel
    assert np.all(ink(out) < ink(digits))
    assert np.all(ink(out) >= 0.4 * ink(digits) - 1e-3)  # at most 60 % of the way to the erosion
