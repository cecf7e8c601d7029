"""cnn.data: downloading MNIST, and the command line.

Downloads run against an HTTP server on 127.0.0.1 serving copies of the shared files: a good mirror, one whose
gzip streams are damaged, one whose content is valid gzip but the wrong data, and an empty one (404).
"""

import gzip
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cnn.data import MNIST_FILES, DataError, download, main
from tests.cnn.idx_files import damaged

REPO_ROOT = Path(__file__).resolve().parents[2]
SMALL = ("train-labels", "test-labels")  # ~33 KB between them: enough for most download tests
FILENAMES = sorted(spec.filename for spec in MNIST_FILES.values())


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
