"""cnn.idx: reading IDX files, gzipped or not, and every way a file can be broken."""

import gzip
import re
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from cnn.data import MNIST_FILES
from cnn.errors import DataError
from cnn.idx import read_idx
from tests.cnn.idx_files import damaged, idx


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


@pytest.mark.parametrize(
    ("position", "starts", "found"),
    [(0, "01 00 08 01", 16779265), (1, "00 01 08 01", 67585)],
    ids=["first-byte", "second-byte"],
)
@pytest.mark.parametrize("magic", [None, 2049], ids=["any-magic", "labels-magic"])
def test_read_idx_refuses_a_header_with_one_non_zero_leading_byte(
    tmp_path: Path, position: int, starts: str, found: int, magic: int | None
) -> None:
    content = bytearray(idx(LABELS))  # a valid label file but for one byte of the magic's leading 00 00
    content[position] = 0x01
    path = tmp_path / "labels"
    path.write_bytes(bytes(content))
    expected = (
        f"{path}: not an IDX file: it starts with bytes {starts} (magic {found}); "
        "an IDX file starts 00 00 <type> <dims>, e.g. 2051 for MNIST images, 2049 for labels"
    )
    with pytest.raises(DataError, match=f"^{re.escape(expected)}$"):
        read_idx(path, magic=magic)
