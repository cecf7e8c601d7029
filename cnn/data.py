"""MNIST: find, download, verify and read the four IDX files.

The files are never part of the repository. They live in a folder chosen by `resolve_data_dir` (argument, else
$CNN_DATA_DIR, else a per-user cache) and are fetched once from a public mirror:

    python -m cnn.data download [--data DIR]     fetch what is missing, verify each file, then keep it
    python -m cnn.data check [--data DIR]        verify the four files and print their shapes

    images, labels = load_mnist("train")         uint8 (N, 28, 28), uint8 (N,)
    x = to_inputs(images)                        float32 (N, 1, 28, 28) in [0, 1]

Reading the IDX format itself (header, gzip) is cnn/idx.py's; `DataError` is importable from here too.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import secrets
import sys
import types
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from cnn.errors import DataError
from cnn.idx import _decode, _read_raw, read_idx


@dataclass(frozen=True)
class MnistFile:
    """One of the four MNIST files and how to recognise it."""

    key: str  # "train-images", "train-labels", "test-images", "test-labels"
    filename: str  # as published, gzipped
    magic: int  # 2051 images, 2049 labels
    md5: str  # of the uncompressed bytes: unchanged when a mirror recompresses the file
    gz_md5: str  # of the .gz as published; a quick accept that skips decompression when it matches


# The uncompressed md5s were computed from ../shared/mnist, whose label and t10k .gz files carry the published
# .gz md5s; the train images there were recompressed, and their uncompressed md5 is the one its README gives.
MNIST_FILES: Final[Mapping[str, MnistFile]] = types.MappingProxyType(
    {
        spec.key: spec
        for spec in (
            MnistFile(
                "train-images",
                "train-images-idx3-ubyte.gz",
                2051,
                "6bbc9ace898e44ae57da46a324031adb",
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            ),
            MnistFile(
                "train-labels",
                "train-labels-idx1-ubyte.gz",
                2049,
                "a25bea736e30d166cdddb491f175f624",
                "d53e105ee54ea40749a09fcbcd1e9432",
            ),
            MnistFile(
                "test-images",
                "t10k-images-idx3-ubyte.gz",
                2051,
                "2646ac647ad5339dbf082846283269ea",
                "9fb629c4189551a2d022fa330f9573f3",
            ),
            MnistFile(
                "test-labels",
                "t10k-labels-idx1-ubyte.gz",
                2049,
                "27ae3e4e09519cfbb04c329615203637",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ),
        )
    }
)

SPLITS: Final = ("train", "test")

# Tried in order. yann.lecun.com itself now refuses most automated downloads, so it is not listed.
DEFAULT_MIRRORS: Final[tuple[str, ...]] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

_CHUNK: Final = 1 << 16


# ------------------------------------------------------------------------------------------------- verifying


def _verify_raw(raw: bytes, spec: MnistFile, source: str) -> None:
    """Accept the published .gz, or any file whose uncompressed content is the canonical one."""
    if hashlib.md5(raw).hexdigest() == spec.gz_md5:
        return
    actual = hashlib.md5(_decode(raw, source)).hexdigest()
    if actual != spec.md5:
        raise DataError(
            f"{source}: md5 of the uncompressed data is {actual}, expected {spec.md5} "
            f"for MNIST {spec.key} ({spec.filename}); the file is damaged or is a different file"
        )


def verify_file(path: str | Path, spec: MnistFile) -> None:
    """Raise DataError unless `path` holds the MNIST file `spec` describes, gzipped or not."""
    path = Path(path)
    raw = _read_raw(path)
    try:
        _verify_raw(raw, spec, str(path))
    except DataError as exc:
        fix = f"Delete it and run `python -m cnn.data download --data {path.parent}`"
        raise DataError(f"{exc}. {fix}") from exc


# -------------------------------------------------------------------------------------------------- locating


def resolve_data_dir(data: str | Path | None = None) -> Path:
    """The MNIST folder: `data`, else $CNN_DATA_DIR, else $XDG_CACHE_HOME/cnn-visualizer/mnist.

    $XDG_CACHE_HOME defaults to ~/.cache.
    """
    if data is not None:
        return Path(data).expanduser()
    env = os.environ.get("CNN_DATA_DIR")
    if env:
        return Path(env).expanduser()
    # The XDG spec says a relative $XDG_CACHE_HOME is invalid and must be ignored.
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "cnn-visualizer" / "mnist"


def _candidates(folder: Path, spec: MnistFile) -> list[Path]:
    # An uncompressed copy (many tools leave one) is as good as the .gz: readers go by content, not name.
    return [folder / spec.filename, folder / spec.filename.removesuffix(".gz")]


def _find(folder: Path, specs: Sequence[MnistFile]) -> list[Path]:
    """The path of each file in `folder`; DataError listing every missing one."""
    found, missing = [], []
    for spec in specs:
        path = next((p for p in _candidates(folder, spec) if p.is_file()), None)
        if path is None:
            missing.append(spec.filename)
        else:
            found.append(path)
    if missing:
        where = f"{folder}" if folder.is_dir() else f"{folder} (the folder does not exist)"
        raise DataError(
            f"MNIST files missing from {where}: {', '.join(missing)}. Run `python -m cnn.data download "
            f"--data {folder}` to fetch them, or pass --data DIR or set CNN_DATA_DIR to a folder that holds "
            "them"
        )
    return found


def _select(names: Iterable[str] | None) -> list[MnistFile]:
    if names is None:
        return list(MNIST_FILES.values())
    names = list(names)
    unknown = [name for name in names if name not in MNIST_FILES]
    if unknown:
        raise DataError(f"unknown MNIST file(s) {', '.join(unknown)}; valid names: {', '.join(MNIST_FILES)}")
    return [MNIST_FILES[name] for name in names]


# ----------------------------------------------------------------------------------------------- downloading


def download(
    data_dir: str | Path | None = None,
    mirrors: Sequence[str] = DEFAULT_MIRRORS,
    timeout: float = 30,
    progress: bool = True,
    names: Iterable[str] | None = None,
) -> Path:
    """Fetch the MNIST files not already present and verified; return the folder that now holds them.

    Each file is tried from the mirrors in order, streamed to a temporary file beside its final name,
    verified, and only then renamed into place (atomic), so an interrupted or damaged download never looks
    like a good file.
    `names` picks a subset of MNIST_FILES keys (default all four).
    """
    folder = resolve_data_dir(data_dir)
    specs = _select(names)
    if not mirrors:
        raise DataError("no mirrors given to download MNIST from")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the data folder {folder}: {exc.strerror or exc}") from exc
    for spec in specs:
        if _present(folder, spec, progress):
            continue
        failures = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + spec.filename
            try:
                _fetch(url, folder / spec.filename, spec, timeout, progress)
                break
            except DataError as exc:
                failures.append(str(exc))
            except urllib.error.HTTPError as exc:
                failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
            except urllib.error.URLError as exc:
                failures.append(f"{url}: {exc.reason}")
            # OSError covers timeouts and resets mid-stream; HTTPException a short body; ValueError a bad URL.
            except (OSError, http.client.HTTPException, ValueError) as exc:
                failures.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            raise DataError(
                f"could not download {spec.filename} from any of {len(mirrors)} mirror(s): "
                f"{'; '.join(failures)}. "
                f"Check the network, or put the file in {folder} yourself and run "
                f"`python -m cnn.data check --data {folder}`"
            )
    return folder


def _present(folder: Path, spec: MnistFile, progress: bool) -> bool:
    """Whether a verified copy is in `folder` already; a damaged one stays until a good one replaces it."""
    for path in _candidates(folder, spec):
        if path.is_file():
            try:
                _verify_raw(_read_raw(path), spec, str(path))
                return True
            except DataError as exc:
                if progress:
                    sys.stderr.write(f"{exc}; fetching it again\n")
    return False


def _fetch(url: str, target: Path, spec: MnistFile, timeout: float, progress: bool) -> None:
    # Not tempfile.mkstemp: its 0600 mode would survive the rename and hide the file from others sharing the
    # folder. O_EXCL with a random name is as safe, and the mode follows the umask like any new file.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    done = 0
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            shown = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                # About one line per MiB, so a log that keeps every \r does not fill with thousands of them.
                if progress and (done - shown >= 1 << 20 or done == total):
                    shown = done
                    of = f" / {total:,}" if total else ""
                    sys.stderr.write(f"\r{url}: {done:,}{of} bytes")
        if total is not None and done != total:
            raise DataError(f"{url}: incomplete download: received {done:,} of {total:,} bytes")
        _verify_raw(tmp.read_bytes(), spec, url)
        os.replace(tmp, target)
    finally:
        if progress and done:
            sys.stderr.write("\n")
        # After a successful rename there is nothing left here; after any failure the partial file goes.
        tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------- loading


def load_mnist(split: str = "train", data_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """images uint8 (N, 28, 28) and labels uint8 (N,) of split "train" (N = 60000) or "test" (N = 10000)."""
    return _load_split(resolve_data_dir(data_dir), split)


def _load_split(folder: Path, split: str, verify: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The split's images and labels from `folder`; with verify, each file's md5 is checked first (`check`)."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid splits: {', '.join(map(repr, SPLITS))}")
    specs = [MNIST_FILES[f"{split}-images"], MNIST_FILES[f"{split}-labels"]]
    paths = _find(folder, specs)
    if verify:
        for path, spec in zip(paths, specs, strict=True):
            verify_file(path, spec)
    images, labels = (read_idx(path, spec.magic) for path, spec in zip(paths, specs, strict=True))
    if images.shape[1:] != (28, 28):
        raise DataError(f"{paths[0]}: images are {images.shape[1]}x{images.shape[2]}, expected 28x28")
    if len(images) != len(labels):
        raise DataError(
            f"{paths[0]} holds {len(images):,} images but {paths[1]} holds {len(labels):,} labels; "
            f"the two files of the {split} split must have the same count"
        )
    if labels.size and labels.max() > 9:
        index = int(np.argmax(labels > 9))
        raise DataError(f"{paths[1]}: labels must be digits 0-9, found {labels[index]} at index {index}")
    return images, labels


def to_inputs(images: np.ndarray, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
    """uint8 images (N, H, W) -> network inputs (N, 1, H, W) in [0, 1], in the floating `dtype`."""
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"to_inputs expects uint8 images (N, H, W), got {images.dtype} {images.shape}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise DataError(f"to_inputs needs a floating dtype, got {np.dtype(dtype)}")
    x = images[:, None, :, :].astype(dtype)  # (N, 1, H, W)
    x /= 255  # in place, so the dtype stays what was asked for
    return x


# ---------------------------------------------------------------------------------------------- command line


def _check(folder: Path) -> None:
    _find(folder, list(MNIST_FILES.values()))  # report every missing file at once, before reading any
    for split in SPLITS:
        images, labels = _load_split(folder, split, verify=True)
        for kind, array in (("images", images), ("labels", labels)):
            spec = MNIST_FILES[f"{split}-{kind}"]
            sys.stdout.write(f"{spec.filename:28} md5 ok  {array.dtype} {array.shape}\n")
    sys.stdout.write(f"MNIST in {folder} is complete and verified\n")


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m cnn.data download|check [--data DIR]`. Returns the exit code: 0 ok, 2 a data problem."""
    parser = argparse.ArgumentParser(prog="python -m cnn.data", description="Download and check MNIST.")
    commands = parser.add_subparsers(dest="command", required=True)
    data_help = "the MNIST folder (default: $CNN_DATA_DIR, else ~/.cache/cnn-visualizer/mnist)"
    fetch = commands.add_parser("download", help="fetch and verify the files that are missing")
    fetch.add_argument("--data", metavar="DIR", help=data_help)
    fetch.add_argument(
        "--mirror",
        metavar="URL",
        action="append",
        help="a mirror's base URL to use instead of the public ones (repeatable, tried in order)",
    )
    check = commands.add_parser("check", help="verify the four files and print their shapes")
    check.add_argument("--data", metavar="DIR", help=data_help)
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            folder = download(args.data, mirrors=args.mirror or DEFAULT_MIRRORS)
            sys.stdout.write(f"MNIST is ready in {folder}\n")
        else:
            _check(resolve_data_dir(args.data))
    except DataError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; nothing unverified was kept\n")
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
