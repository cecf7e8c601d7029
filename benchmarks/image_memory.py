"""Peak memory of decoding and preprocessing one image at the pixel limit (16 megapixels), each in a fresh process.

    .venv/bin/python -m benchmarks.image_memory [--side 4096]

For each kind of file (a few-kilobyte grey PNG, RGB and RGBA PNGs, a JPEG), a child process imports the server's
image module, notes its resident set (ru_maxrss), runs image_to_input on the file, and reports the peak: the cost of
the image is the difference. The files hold a large dark digit-like stroke on a light (or transparent) background.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw

CHILD = """
import resource, sys
from app.services.images import ImageLimits, image_to_input
data = open(sys.argv[1], "rb").read()
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
pre = image_to_input(data, ImageLimits(max_bytes=64 * 2**20))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(base // 1024, peak // 1024, pre.input.shape[0], pre.input.shape[1])
"""

KINDS = {"PNG L": ("L", "PNG"), "PNG RGB": ("RGB", "PNG"), "PNG RGBA": ("RGBA", "PNG"), "JPEG RGB": ("RGB", "JPEG")}


def make_image(side: int, mode: str, fmt: str) -> bytes:
    """A side × side image: a thick dark '7' on white, or, in RGBA, opaque black strokes on transparent."""
    background = (0, 0, 0, 0) if mode == "RGBA" else "white"
    img = Image.new(mode, (side, side), background)
    ink = (0, 0, 0, 255) if mode == "RGBA" else "black"
    draw = ImageDraw.Draw(img)
    s = side / 28
    draw.line([(7 * s, 7 * s), (21 * s, 7 * s), (12 * s, 22 * s)], fill=ink, width=int(2 * s))
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {"optimize": True}))
    return buf.getvalue()


def peak_rss_mb(data: bytes) -> tuple[int, int]:
    """(resident MB after imports, peak resident MB after image_to_input) of a fresh process decoding `data`."""
    root = Path(__file__).resolve().parents[1]
    with tempfile.NamedTemporaryFile(suffix=".img") as f:
        f.write(data)
        f.flush()
        # Through a shell that forks: Linux carries a process's peak RSS across exec, so a child spawned straight
        # from a large parent (pytest, say) would start with the parent's peak as its own.
        out = subprocess.run(["/bin/sh", "-c", '"$0" -c "$1" "$2"; exit $?', sys.executable, CHILD, f.name],
                             capture_output=True, text=True, check=True, cwd=root).stdout.split()
    base, peak, h, w = (int(v) for v in out)
    assert (h, w) == (28, 28)
    return base, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=4096)
    args = parser.parse_args()
    print(f"{args.side} × {args.side} = {args.side ** 2:,} pixels; resident MB of a fresh process (ru_maxrss)")
    print(f"{'file':<10} {'bytes':>12} {'after imports':>14} {'peak':>6} {'the image':>10}")
    for name, (mode, fmt) in KINDS.items():
        data = make_image(args.side, mode, fmt)
        base, peak = peak_rss_mb(data)
        print(f"{name:<10} {len(data):>12,} {base:>14} {peak:>6} {peak - base:>10}")


if __name__ == "__main__":
    main()
