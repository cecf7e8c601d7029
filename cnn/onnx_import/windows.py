"""The arithmetic of ONNX's sliding windows (Conv, MaxPool, AveragePool) in terms the engine's layers can carry.

ONNX pads each side by its own amount, computes SAME padding itself, and in floor mode drops input rows a stride never
reaches. The engine's Conv2D pads every side alike and refuses a stride that does not fit; ZeroPad2D carries the rest,
cropping the unreached rows away, so the numbers come out the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


class WindowError(ValueError):
    """The attributes ask for something the engine's windows cannot do; the message says what."""


@dataclass(frozen=True)
class Window:
    """A square window with one stride, and per side the padding (negative: cropping) that makes it fit exactly."""

    kernel: int
    stride: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def even(self) -> bool:
        """The same padding on every side (no cropping): what Conv2D's `padding` can say by itself."""
        return self.left == self.right == self.top == self.bottom >= 0

    @property
    def pads(self) -> bool:
        """Whether any side gains zeros (as opposed to none, or cropping only)."""
        return max(self.left, self.right, self.top, self.bottom) > 0

    def zero_pad(self) -> list[int]:
        """ZeroPad2D's padding argument: [left, right, top, bottom]."""
        return [self.left, self.right, self.top, self.bottom]


def _same_padding(size: int, kernel: int, stride: int, upper: bool) -> tuple[int, int]:
    """(begin, end) for auto_pad SAME_UPPER / SAME_LOWER: output ceil(size / stride), the odd cell at the end or
    the beginning."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if upper else (large, small)


def window(attrs: dict[str, Any], kernel_hw: tuple[int, int], size_hw: tuple[int, int]) -> Window:
    """The Window for a node's attributes (auto_pad, pads, strides, dilations, ceil_mode) over an input H×W."""
    KH, KW = kernel_hw
    if KH != KW:
        raise WindowError(f"its {KH}×{KW} window is not square; the engine's windows are K×K")
    strides = list(attrs.get("strides", [1, 1]))
    if len(strides) != 2 or strides[0] != strides[1]:
        raise WindowError(f"strides {strides} differ between height and width; the engine takes one stride")
    stride = int(strides[0])
    if any(d != 1 for d in attrs.get("dilations", [1, 1])):
        raise WindowError(f"dilations {list(attrs['dilations'])} are not supported (only 1)")
    auto_pad = attrs.get("auto_pad", "NOTSET")
    H, W = size_hw
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        top, bottom = _same_padding(H, KH, stride, auto_pad == "SAME_UPPER")
        left, right = _same_padding(W, KW, stride, auto_pad == "SAME_UPPER")
    elif auto_pad == "VALID":
        top = bottom = left = right = 0
    elif auto_pad == "NOTSET":
        pads = list(attrs.get("pads", [0, 0, 0, 0]))
        if len(pads) != 4 or min(pads) < 0:
            raise WindowError(f"pads {pads} are not four non-negative numbers (top, left, bottom, right)")
        top, left, bottom, right = (int(p) for p in pads)
    else:
        raise WindowError(f"auto_pad {auto_pad!r} is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
    fitted = []
    for size, begin, end, axis in ((H, top, bottom, "height"), (W, left, right, "width")):
        span = size + begin + end - KH
        if span < 0:
            raise WindowError(f"its {KH}×{KW} window is larger than the padded input {axis} {size + begin + end}")
        if attrs.get("ceil_mode", 0) and span % stride:
            raise WindowError(f"ceil_mode=1 makes the output {axis} {math.ceil(span / stride) + 1}, not "
                              f"{span // stride + 1}; the engine computes the floor (export with ceil_mode=False)")
        fitted.append(end - span % stride)  # the last span % stride rows are never reached: crop them
    return Window(KH, stride, left, fitted[1], top, fitted[0])
