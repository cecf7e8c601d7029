"""cnn.data: reading IDX files, verifying and downloading MNIST, and the command line.

Downloads run against an HTTP server on 127.0.0.1 serving copies of the shared files: a good mirror, one whose
gzip streams are damaged, one whose content is valid gzip but the wrong data, and an empty one (404).
"""

import gzip
import hashlib
import http.server
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from cnn.data import (
    MNIST_FILES,
    DataError,
    download,
    load_mnist,
    main,
    read_idx,
    resolve_data_dir,
    to_inputs,
    verify_file,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = ("train-labels", "test-labels")  # ~33 KB between them: enough for most download tests
FILENAMES = sorted(spec.filename for spec in MNIST_FILES.values())


def idx(array: np.ndarray, magic: int | None = None) -> bytes:
    """IDX bytes of a uint8 array; `magic` overrides the header's first four bytes."""
    magic = 0x0800 | array.ndim if magic is None else magic
    return struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> tuple[Path, Path]:
    """Fabricated, gzipped files under the real names of `split`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, array in (("images", images), ("labels", labels)):
        path = folder / MNIST_FILES[f"{split}-{kind}"].filename
        path.write_bytes(gzip.compress(idx(array)))
        paths.append(path)
    return paths[0], paths[1]


def damaged(gz: bytes) -> bytes:
    """The same .gz with 16 bytes in the middle of its deflate stream inverted."""
    out = bytearray(gz)
    for i in range(len(out) // 2, len(out) // 2 + 16):
        out[i] ^= 0xFF
    return bytes(out)


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


def test_gzip_is_detected_by_content_not_by_name(mnist_dir: Path, tmp_path: Path) -> None:
    source = mnist_dir / MNIST_FILES["test-images"].filename
    expected = read_idx(source)
    plain = tmp_path / "images.gz"  # uncompressed, despite the name
    plain.write_bytes(gzip.decompress(source.read_bytes()))
    squeezed = tmp_path / "images.idx"  # gzipped, despite the name
    shutil.copy(source, squeezed)
    for path in (plain, squeezed):
        got = read_idx(path, magic=2051)
        assert got.dtype == np.uint8 and got.flags.writeable
        np.testing.assert_array_equal(got, expected)


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

LABELS = np.arange(10, dtype=np.uint8)
HEADER_ONLY = struct.pack(">4I", 2051, 2, 28, 28)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "0 bytes is too short for an IDX file, whose header alone is at least 8 bytes"),
        (
            b"\x12\x34\x08\x01" + bytes(12),
            "not an IDX file: it starts with bytes 12 34 08 01 (magic 305399809)",
        ),
        (
            struct.pack(">2I", 0x0D01, 2) + bytes(8),
            "IDX type code 0x0D (float32) is not supported, expected 0x08",
        ),
        (struct.pack(">I", 0x0800), "the IDX header declares 0 dimensions, expected at least 1"),
        (struct.pack(">2I", 2051, 5), "truncated header: 3 dimensions need a 16-byte header, found 8 bytes"),
        (
            idx(LABELS)[:-3],
            "truncated: the header says 10 data bytes, so the file should be 18 bytes, found 15 (3 missing)",
        ),
        (
            HEADER_ONLY,
            "truncated: the header says 2x28x28 data bytes, so the file should be 1,584 bytes, "
            "found 16 (1,568 missing)",
        ),
        (
            idx(LABELS) + b"\0\0",
            "2 trailing bytes: the header says 10 data bytes, so the file should be 18 bytes",
        ),
    ],
    ids=[
        "empty",
        "bad-magic",
        "float-type",
        "no-dims",
        "short-header",
        "truncated",
        "header-only",
        "trailing",
    ],
)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_idx_rejects_a_broken_file(tmp_path: Path, content: bytes, message: str, compress: bool) -> None:
    path = tmp_path / "broken"
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(DataError, match=f"^{re.escape(f'{path}: {message}')}"):
        read_idx(path)


def test_read_idx_names_the_magic_it_found_and_the_one_it_wanted(tmp_path: Path) -> None:
    path = tmp_path / "labels"
    path.write_bytes(idx(LABELS))
    np.testing.assert_array_equal(read_idx(path, magic=2049), LABELS)
    expected = (
        f"{path}: magic number 2049 (type 0x08 unsigned byte, 1 dimensions), "
        "expected 2051 (type 0x08 unsigned byte, 3 dimensions); is this the right file?"
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        read_idx(path, magic=2051)


@pytest.mark.parametrize(
    "corrupt",
    [damaged, lambda gz: gz[: len(gz) // 2], lambda gz: gz[:-8] + bytes(8)],
    ids=["flipped-bytes", "cut-short", "bad-crc"],
)
def test_read_idx_turns_a_corrupt_gzip_stream_into_a_data_error(tmp_path: Path, corrupt) -> None:
    path = tmp_path / "labels.gz"
    path.write_bytes(corrupt(gzip.compress(idx(np.random.default_rng(0).integers(0, 256, 3000, np.uint8)))))
    with pytest.raises(DataError, match=f"^{re.escape(f'{path}: corrupt gzip stream (')}.*fetch it anew$"):
        read_idx(path)


def test_read_idx_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"^cannot read {re.escape(str(tmp_path / 'nope'))}: No such file"):
        read_idx(tmp_path / "nope")


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


# -------------------------------------------------------------------------------------------------- download


@dataclass
class Mirrors:
    base: str
    requests: list[str] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}/"


@pytest.fixture(scope="module")
def http_mirrors(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirrors]:
    """One HTTP server on 127.0.0.1 with four mirror folders: good, damaged, wrong, missing (empty)."""
    root = tmp_path_factory.mktemp("mirrors")
    for name in ("good", "damaged", "wrong", "missing"):
        (root / name).mkdir()
    for spec in MNIST_FILES.values():
        gz = (mnist_dir / spec.filename).read_bytes()
        (root / "good" / spec.filename).write_bytes(gz)
        if spec.key in SMALL:
            (root / "damaged" / spec.filename).write_bytes(damaged(gz))
            content = bytearray(gzip.decompress(gz))
            content[-1] = (content[-1] + 1) % 10  # another digit: still a valid file, but not MNIST's
            (root / "wrong" / spec.filename).write_bytes(gzip.compress(bytes(content)))
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep the test output to what the tests say

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Mirrors(f"http://127.0.0.1:{server.server_port}", requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def mirrors(http_mirrors: Mirrors, monkeypatch) -> Mirrors:
    """The server with a fresh request log, reached directly even where a proxy is configured."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    http_mirrors.requests.clear()
    return http_mirrors


def assert_holds_exactly(folder: Path, source: Path, keys: tuple[str, ...]) -> None:
    """`folder` holds byte-identical copies of `keys` from `source` and nothing else (no partial files)."""
    names = sorted(MNIST_FILES[key].filename for key in keys)
    assert sorted(os.listdir(folder)) == names
    for name in names:
        assert (folder / name).read_bytes() == (source / name).read_bytes()


def test_download_fetches_all_four_then_skips_what_is_verified(
    mirrors: Mirrors, mnist_dir: Path, tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "new" / "mnist"  # created on demand
    assert main(["download", "--data", str(folder), "--mirror", mirrors.url("good")]) == 0
    assert capsys.readouterr().out == f"MNIST is ready in {folder}\n"
    assert sorted(mirrors.requests) == sorted(f"/good/{name}" for name in FILENAMES)
    assert_holds_exactly(folder, mnist_dir, tuple(MNIST_FILES))
    # Readable like any file this process creates there (a 0600 temporary file would not be).
    (folder / "probe").touch()
    assert (folder / FILENAMES[0]).stat().st_mode == (folder / "probe").stat().st_mode
    (folder / "probe").unlink()

    mirrors.requests.clear()
    assert download(folder, mirrors=[mirrors.url("good")], progress=False) == folder
    assert mirrors.requests == []


@pytest.mark.parametrize("bad", ["damaged", "wrong", "missing"])
def test_download_falls_back_to_the_next_mirror(
    mirrors: Mirrors, mnist_dir: Path, tmp_path: Path, bad: str
) -> None:
    download(tmp_path, mirrors=[mirrors.url(bad), mirrors.url("good")], progress=False, names=SMALL)
    assert_holds_exactly(tmp_path, mnist_dir, SMALL)
    filenames = [MNIST_FILES[key].filename for key in SMALL]
    assert mirrors.requests == [f"/{mirror}/{name}" for name in filenames for mirror in (bad, "good")]


def test_download_names_the_file_and_every_mirror_when_all_fail(mirrors: Mirrors, tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on once the probe closes
        probe.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{probe.getsockname()[1]}/"
    bad = [mirrors.url("damaged"), mirrors.url("wrong"), mirrors.url("missing"), refused]
    with pytest.raises(DataError) as info:
        download(tmp_path, mirrors=bad, progress=False, names=["test-labels"])
    message = str(info.value)
    name = "t10k-labels-idx1-ubyte.gz"
    assert message.startswith(f"could not download {name} from any of 4 mirror(s): ")
    assert f"{bad[0]}{name}: corrupt gzip stream (" in message
    assert f"{bad[1]}{name}: md5 of the uncompressed data is " in message
    assert f"expected {MNIST_FILES['test-labels'].md5} for MNIST test-labels" in message
    assert f"{bad[2]}{name}: HTTP 404 File not found" in message
    assert f"{refused}{name}: [Errno 111] Connection refused" in message
    assert message.endswith(f"run `python -m cnn.data check --data {tmp_path}`")
    assert os.listdir(tmp_path) == []  # nothing unverified, no partial files


def test_download_replaces_a_damaged_local_copy(mirrors: Mirrors, mnist_dir: Path, tmp_path: Path) -> None:
    name = MNIST_FILES["test-labels"].filename
    (tmp_path / name).write_bytes(damaged((mnist_dir / name).read_bytes()))
    download(tmp_path, mirrors=[mirrors.url("good")], progress=False, names=["test-labels"])
    assert_holds_exactly(tmp_path, mnist_dir, ("test-labels",))
    assert mirrors.requests == [f"/good/{name}"]


def test_download_reports_progress_on_stderr(mirrors: Mirrors, tmp_path: Path, capsys) -> None:
    download(tmp_path, mirrors=[mirrors.url("good")], names=["test-labels"])
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"\r{mirrors.url('good')}t10k-labels-idx1-ubyte.gz: 4,542 / 4,542 bytes\n"


def test_download_rejects_unknown_names_and_no_mirrors(tmp_path: Path) -> None:
    valid = "train-images, train-labels, test-images, test-labels"
    with pytest.raises(DataError, match=f"^unknown MNIST file\\(s\\) nope; valid names: {valid}$"):
        download(tmp_path, names=["nope"])
    with pytest.raises(DataError, match="^no mirrors given to download MNIST from$"):
        download(tmp_path, mirrors=[])


# ---------------------------------------------------------------------------------------------- command line


def test_check_verifies_the_real_files(mnist_dir: Path, capsys) -> None:
    assert main(["check", "--data", str(mnist_dir)]) == 0
    out = capsys.readouterr().out
    assert "train-images-idx3-ubyte.gz   md5 ok  uint8 (60000, 28, 28)" in out
    assert "t10k-labels-idx1-ubyte.gz    md5 ok  uint8 (10000,)" in out
    assert out.count("md5 ok") == 4
    assert out.endswith(f"MNIST in {mnist_dir} is complete and verified\n")


def test_check_on_an_empty_folder_says_what_to_run(tmp_path: Path, capsys) -> None:
    assert main(["check", "--data", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"error: MNIST files missing from {tmp_path}: train-images-idx3-ubyte.gz, ")
    assert f"Run `python -m cnn.data download --data {tmp_path}`" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_check_names_a_file_whose_md5_is_wrong(mnist_dir: Path, tmp_path: Path, capsys) -> None:
    for name in FILENAMES:
        shutil.copy(mnist_dir / name, tmp_path / name)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(labels.read_bytes()))
    content[-1] = (content[-1] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(content)))
    assert main(["check", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: {labels}: md5 of the uncompressed data is {hashlib.md5(content).hexdigest()}, "
    )
    assert f"expected {MNIST_FILES['test-labels'].md5} for MNIST test-labels" in err
    assert err.count("\n") == 1


def test_cli_download_failure_is_one_line(mirrors: Mirrors, tmp_path: Path, capsys) -> None:
    assert main(["download", "--data", str(tmp_path), "--mirror", mirrors.url("missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not download train-images-idx3-ubyte.gz from any of 1 mirror(s): ")
    assert "HTTP 404" in err and err.count("\n") == 1
    assert os.listdir(tmp_path) == []


def test_python_dash_m_runs_the_cli_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cnn.data", "check", "--data", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: MNIST files missing from {tmp_path}: ")
    assert "Traceback" not in result.stderr
