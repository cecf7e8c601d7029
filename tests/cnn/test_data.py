"""cnn.data: verifying and loading MNIST, real and fabricated, to_inputs, and where the data folder is.

Reading the IDX format itself is tested in test_idx.py; downloading and the command line in test_mnist_download.py.
"""

import gzip
import hashlib
import re
from pathlib import Path

import numpy as np
import pytest

from cnn.data import MNIST_FILES, DataError, load_mnist, resolve_data_dir, to_inputs, verify_file
from tests.cnn.idx_files import idx


def write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> tuple[Path, Path]:
    """Fabricated, gzipped files under the real names of `split`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, array in (("images", images), ("labels", labels)):
        path = folder / MNIST_FILES[f"{split}-{kind}"].filename
        path.write_bytes(gzip.compress(idx(array)))
        paths.append(path)
    return paths[0], paths[1]


# -------------------------------------------------------------------------------------------- the real files


@pytest.fixture(scope="module")
def train(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The training split, read once: it is 47 MB uncompressed."""
    return load_mnist("train", mnist_dir)


def test_train_split_has_the_published_shape_and_values(train: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = train
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(labels).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    # The normalisation constants everyone quotes for MNIST, 0.1307 and 0.3081, come from these very pixels.
    # A histogram gives the moments without a 47-million-element float copy.
    counts, values = np.bincount(images.ravel(), minlength=256), np.arange(256) / 255
    mean = counts @ values / images.size
    assert mean == pytest.approx(0.1307, abs=5e-5)
    assert np.sqrt(counts @ values**2 / images.size - mean**2) == pytest.approx(0.3081, abs=5e-5)


def test_test_split_has_the_published_shape_and_values(mnist_dir: Path) -> None:
    images, labels = load_mnist("test", mnist_dir)
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(labels, minlength=10).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    assert int(images.sum()) == 264923200


def test_all_four_files_verify_by_their_uncompressed_md5(mnist_dir: Path) -> None:
    for spec in MNIST_FILES.values():
        verify_file(mnist_dir / spec.filename, spec)
    # The shared train images were recompressed: only the uncompressed md5 can have accepted them.
    train_images = MNIST_FILES["train-images"]
    assert hashlib.md5((mnist_dir / train_images.filename).read_bytes()).hexdigest() != train_images.gz_md5


def test_verify_file_names_both_md5s_when_the_file_is_another(mnist_dir: Path) -> None:
    path = mnist_dir / MNIST_FILES["test-labels"].filename
    actual = hashlib.md5(gzip.decompress(path.read_bytes())).hexdigest()
    spec = MNIST_FILES["train-labels"]
    with pytest.raises(DataError) as info:
        verify_file(path, spec)
    message = str(info.value)
    assert message.startswith(f"{path}: md5 of the uncompressed data is {actual}, expected {spec.md5}")
    assert "MNIST train-labels" in message
    assert f"Delete it and run `python -m cnn.data download --data {mnist_dir}`" in message


def test_an_uncompressed_copy_verifies_and_loads(mnist_dir: Path, tmp_path: Path) -> None:
    for key in ("test-images", "test-labels"):
        spec = MNIST_FILES[key]
        plain = tmp_path / spec.filename.removesuffix(".gz")
        plain.write_bytes(gzip.decompress((mnist_dir / spec.filename).read_bytes()))
        verify_file(plain, spec)
    images, labels = load_mnist("test", tmp_path)
    expected_images, expected_labels = load_mnist("test", mnist_dir)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)


# ---------------------------------------------------------------------------------------------- broken files


def test_load_mnist_reads_fabricated_files_from_cnn_data_dir(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), np.array([0, 9, 4], dtype=np.uint8)
    write_split(tmp_path, "test", images, labels)
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path))
    got_images, got_labels = load_mnist("test")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)


def test_load_mnist_rejects_images_and_labels_of_different_counts(tmp_path: Path) -> None:
    images_path, labels_path = write_split(
        tmp_path, "test", np.zeros((3, 28, 28), np.uint8), np.zeros(2, np.uint8)
    )
    expected = (
        f"{images_path} holds 3 images but {labels_path} holds 2 labels; "
        "the two files of the test split must have the same count"
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_mnist("test", tmp_path)


def test_load_mnist_rejects_labels_that_are_not_digits(tmp_path: Path) -> None:
    _, labels_path = write_split(
        tmp_path, "train", np.zeros((3, 28, 28), np.uint8), np.array([1, 12, 3], np.uint8)
    )
    expected = f"{labels_path}: labels must be digits 0-9, found 12 at index 1"
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_mnist("train", tmp_path)


def test_load_mnist_rejects_images_that_are_not_28_by_28(tmp_path: Path) -> None:
    images_path, _ = write_split(tmp_path, "train", np.zeros((2, 20, 20), np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=f"^{re.escape(f'{images_path}: images are 20x20, expected 28x28')}$"):
        load_mnist("train", tmp_path)


def test_load_mnist_rejects_labels_in_the_images_slot(tmp_path: Path) -> None:
    images_path, _ = write_split(tmp_path, "test", np.zeros(2, np.uint8), np.zeros(2, np.uint8))
    with pytest.raises(DataError, match=f"^{re.escape(f'{images_path}: magic number 2049')}.*expected 2051"):
        load_mnist("test", tmp_path)


def test_load_mnist_lists_the_valid_splits() -> None:
    with pytest.raises(DataError, match=r"^unknown split 'validation'; valid splits: 'train', 'test'$"):
        load_mnist("validation")


def test_load_mnist_tells_how_to_get_missing_files(tmp_path: Path) -> None:
    expected = (
        f"MNIST files missing from {tmp_path}: t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz. "
        f"Run `python -m cnn.data download --data {tmp_path}` to fetch them, "
        "or pass --data DIR or set CNN_DATA_DIR to a folder that holds them"
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        load_mnist("test", tmp_path)
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'absent'} (the folder does not exist)")):
        load_mnist("test", tmp_path / "absent")


# ------------------------------------------------------------------------------------------------- to_inputs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_to_inputs_adds_the_channel_axis_and_scales_to_unit(dtype) -> None:
    images = np.array([[[0, 128], [255, 1]], [[7, 0], [0, 255]]], dtype=np.uint8)  # (2, 2, 2)
    x = to_inputs(images, dtype)
    assert x.shape == (2, 1, 2, 2) and x.dtype == dtype
    np.testing.assert_array_equal(x[:, 0], images.astype(dtype) / dtype(255))
    assert x[0, 0, 1, 0] == 1 and x[0, 0, 0, 0] == 0


def test_to_inputs_says_what_it_expects() -> None:
    with pytest.raises(DataError, match=re.escape("expects uint8 images (N, H, W), got float64 (2, 28, 28)")):
        to_inputs(np.zeros((2, 28, 28)))
    with pytest.raises(DataError, match=re.escape("expects uint8 images (N, H, W), got uint8 (28, 28)")):
        to_inputs(np.zeros((28, 28), np.uint8))
    with pytest.raises(DataError, match="needs a floating dtype, got int64"):
        to_inputs(np.zeros((1, 28, 28), np.uint8), np.int64)


# ------------------------------------------------------------------------------------------ resolve_data_dir


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    """A fake home with no CNN_DATA_DIR and no XDG_CACHE_HOME."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNN_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return tmp_path / "home"


def test_resolve_data_dir_prefers_argument_then_env_then_cache(
    home: Path, tmp_path: Path, monkeypatch
) -> None:
    assert resolve_data_dir() == home / ".cache" / "cnn-visualizer" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "cnn-visualizer" / "mnist"
    monkeypatch.setenv("CNN_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"
    assert resolve_data_dir("~/mnist") == home / "mnist"


def test_resolve_data_dir_ignores_empty_env_and_relative_xdg(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNN_DATA_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # the XDG spec says to ignore it
    assert resolve_data_dir() == home / ".cache" / "cnn-visualizer" / "mnist"
