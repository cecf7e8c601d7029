"""What the node tests of static/js/lib compare against, made at test time by the server's code, Pillow and the engine.

    preprocess_fixtures()   drawings as canvas RGBA, and what app.services.images makes of their PNG
    resample_fixtures()     random float32 images and Pillow's resize of them (Lanczos with reducing_gap, BOX)
    engine_fixtures()       two networks' forward and backward passes, layer by layer (cnn)
    seed_fixtures()         seed 000's worked example: its printed golden numbers, and the engine's ∂E/∂input
    tensor_fixtures()       arrays in the wire's byte forms, at aligned and misaligned offsets, with numpy's answers

Every array goes into the JSON as wire_array(a): {"dtype", "shape", "b64"} with little-endian bytes; tests/js/
helpers.mjs turns it back into a typed array. Nothing here is written to the repository: test_node.py puts the files
in a temporary folder.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from app.services.images import EmptyImageError, ImageLimits, load_grayscale, preprocess
from cnn import Conv2D, build_model, mean_squared_error, softmax, softmax_cross_entropy
from cnn.pretrained import load_pretrained, load_samples
from tests.cnn import seed_example as seed

_DTYPES = {"float64": "<f8", "float32": "<f4", "int32": "<i4", "uint8": "u1"}


def wire_array(a: np.ndarray, dtype: str = "float64") -> dict[str, Any]:
    """An array as the fixtures carry it: its values in `dtype`, little-endian, base64."""
    a = np.asarray(a)
    return {"dtype": dtype, "shape": list(a.shape),
            "b64": base64.b64encode(np.ascontiguousarray(a, dtype=_DTYPES[dtype]).tobytes()).decode("ascii")}


# -------------------------------------------------------------------------------------------------- drawings

Line = list[tuple[float, float]]


def strokes(lines: list[Line], width: float, size: tuple[int, int] = (280, 280), ink: int = 0,
            paper: int = 255) -> np.ndarray:
    """uint8 (H, W): polylines in canvas fractions (x, y), drawn 4× larger and box-averaged down, so their edges
    are anti-aliased the way a browser's strokes are."""
    H, W = size
    big = Image.new("L", (4 * W, 4 * H), paper)
    pen = ImageDraw.Draw(big)
    for line in lines:
        pen.line([(x * 4 * W, y * 4 * H) for x, y in line], fill=ink, width=round(4 * width), joint="curve")
    return np.asarray(big.resize((W, H), Image.Resampling.BOX))


def opaque(gray: np.ndarray) -> np.ndarray:
    """uint8 (H, W) -> (H, W, 4): the canvas as getImageData reads it, grey and opaque."""
    return np.dstack([gray, gray, gray, np.full_like(gray, 255)])


def mnist_drawn(digit: np.ndarray) -> np.ndarray:
    """An MNIST digit (white on black, 28×28) as a learner's canvas: black on white, scaled to 280×280."""
    big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BILINEAR)
    return opaque(np.asarray(big))


def drawings() -> dict[str, np.ndarray]:
    """name -> canvas RGBA uint8 (H, W, 4): MNIST digits and the awkward cases of a drawing pad."""
    images, labels = load_samples()
    out = {f"mnist_{int(label)}": mnist_drawn(img) for img, label in zip(images, labels, strict=True)}
    seven = [[(0.3, 0.25), (0.7, 0.25), (0.45, 0.8)], [(0.3, 0.25), (0.3, 0.33)]]
    out["seven"] = opaque(strokes(seven, 14))
    out["thin_one"] = opaque(strokes([[(0.52, 0.12), (0.49, 0.86)]], 3))
    hairline = np.full((280, 280), 255, np.uint8)
    hairline[40:240, 140] = 0  # 200 × 1: only the vertical pass runs, after a 3 × 1 reduce
    out["hairline_one"] = opaque(hairline)
    out["off_centre"] = opaque(strokes([[(0.05, 0.1), (0.25, 0.05), (0.3, 0.2), (0.06, 0.4), (0.32, 0.38)]], 9))
    out["touching_border"] = opaque(strokes([[(0.4, 0.3), (1.05, 0.6), (0.8, 1.05)]], 16))
    out["small_digit"] = opaque(strokes([[(0.45, 0.45), (0.52, 0.44), (0.47, 0.53)]], 2))  # ~14 px: enlarged
    out["dash"] = opaque(strokes([[(0.15, 0.52), (0.85, 0.47)]], 10))  # wider than tall
    block = np.full((280, 280), 255, np.uint8)
    block[100:140, 130:151] = 0  # 40 × 21: 20·21/40 = 10.5, which Python's round takes to 10, not 11
    block[100:110, 131] = 128
    out["half_width"] = opaque(block)
    block = np.full((280, 280), 255, np.uint8)
    block[30:90, 200:230] = 0  # symmetric: its centre of mass (9.5, 4.5) is a tie that place() rounds up
    out["symmetric_block"] = opaque(block)
    colours = np.full((280, 280, 4), 255, np.uint8)
    for channel, line in enumerate([[(0.3, 0.2), (0.7, 0.3)], [(0.7, 0.3), (0.4, 0.8)], [(0.4, 0.8), (0.6, 0.8)]]):
        mask = strokes([line], 12) < 128
        colours[mask, :3] = 40
        colours[mask, channel] = 230  # red, green, blue strokes: the three luminance weights
    out["coloured_ink"] = colours
    out["grey_paper"] = opaque(strokes(seven, 12, ink=40, paper=225))
    out["light_on_dark"] = opaque(strokes(seven, 12, ink=255, paper=0))
    out["faint_ink"] = opaque(strokes(seven, 12, ink=200))
    out["too_faint"] = opaque(strokes(seven, 12, ink=235))
    out["blank"] = opaque(np.full((280, 280), 255, np.uint8))
    transparent = np.zeros((280, 280, 4), np.uint8)  # black strokes on a transparent canvas: composited over white
    transparent[..., 3] = 255 - strokes(seven, 12)
    out["transparent"] = transparent
    out["big_canvas"] = opaque(strokes([[(0.2, 0.1), (0.8, 0.2), (0.3, 0.9)]], 40, size=(600, 700)))  # shrunk steps
    tiny = np.full((3, 2), 255, np.uint8)
    tiny[1, 0] = 0
    out["tiny_canvas"] = opaque(tiny)
    return out


def _png(rgba: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def preprocess_fixtures() -> dict[str, Any]:
    """Each drawing's canvas, and what the server makes of the PNG of it: load_grayscale, then preprocess."""
    cases = []
    for name, rgba in drawings().items():
        gray = load_grayscale(_png(rgba), ImageLimits())
        case: dict[str, Any] = {"name": name, "rgba": wire_array(rgba, "uint8"), "gray": wire_array(gray)}
        try:
            pre = preprocess(gray)
        except EmptyImageError as e:
            case["error"] = e.message
        else:
            case["expected"] = {
                "input": wire_array(pre.input),
                "steps": {k: wire_array(v, "float32") for k, v in pre.steps.items()},
                "inverted": pre.inverted, "bbox": list(pre.bbox), "center_of_mass": list(pre.center_of_mass),
                "offset": list(pre.offset), "background": pre.background, "display_scale": pre.display_scale,
            }
        cases.append(case)
    return {"cases": cases}


def resample_fixtures(seed: int = 0) -> dict[str, Any]:
    """Random float32 images resized by Pillow as geometry.py does: Lanczos with reducing_gap 3 to a 20 px box, the
    same without the gap, any size (either pass first, enlarging), and BOX shrinking for display."""
    rng = np.random.default_rng(seed)
    sizes = [(250, 97, 20, 8), (131, 61, 20, 9), (61, 131, 9, 20), (200, 1, 20, 1), (5, 3, 20, 12), (1, 1, 20, 20),
             (40, 21, 20, 10), (600, 451, 20, 15), (17, 29, 10, 20), (150, 60, 40, 5), (150, 60, 34, 4)]
    for _ in range(40):
        (h, w), (oh, ow) = rng.integers(1, 300, 2).tolist(), rng.integers(1, 40, 2).tolist()
        sizes.append((h, w, oh, ow))
    cases = []
    for h, w, oh, ow in sizes:
        for filt, gap in [("lanczos", 3.0), ("lanczos", None)] if (h, w) != (oh, ow) else []:
            a = rng.random((h, w)).astype(np.float32)
            out = Image.fromarray(a).resize((ow, oh), Image.Resampling.LANCZOS, reducing_gap=gap)
            cases.append({"filter": filt, "gap": gap, "src": wire_array(a, "float32"),
                          "out": wire_array(np.asarray(out), "float32")})
    for h, w, factor in [(600, 700, 0.8), (1000, 561, 0.56), (333, 777, 0.3)]:
        a = rng.random((h, w)).astype(np.float32)
        size = (max(1, round(w * factor)), max(1, round(h * factor)))
        out = Image.fromarray(a).resize(size, Image.Resampling.BOX)
        cases.append({"filter": "box", "gap": None, "src": wire_array(a, "float32"),
                      "out": wire_array(np.asarray(out), "float32")})
    return {"cases": cases}


# ------------------------------------------------------------------------------------------------------ engine

# Non-square everything, C > 1, stride 2 with padding 1 and stride 1 with padding 2 (so a swap of the two shows),
# and an overlapping max-pool (a cell can win two windows, so its errors add up).
SMALL_INPUT = (2, 11, 9)
SMALL_NET: dict[str, Any] = {
    "input_shape": list(SMALL_INPUT),
    "layers": [
        {"type": "Conv2D", "out_channels": 3, "kernel_size": [3, 5], "stride": 2, "padding": 1},  # (3, 6, 4)
        {"type": "ReLU"},
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 4, "stride": 1, "padding": 2},  # (4, 7, 5)
        {"type": "ReLU"},
        {"type": "MaxPool2D", "size": 3, "stride": 2},  # (4, 3, 2)
        {"type": "Flatten"},
        {"type": "Dense", "out_features": 7},
        {"type": "ReLU"},
        {"type": "Dense", "out_features": 5},
    ],
}


# The layers the page redoes without a weight: tanh, an overlapping average pool, sigmoid, dropout (at use: nothing)
# and a leaky ReLU, between convolutions and a dense layer.
SMOOTH_NET: dict[str, Any] = {
    "input_shape": [1, 11, 13],
    "layers": [
        {"type": "Conv2D", "out_channels": 3, "kernel_size": 3, "padding": 1},  # (3, 11, 13)
        {"type": "Tanh"},
        {"type": "AvgPool2D", "size": 3, "stride": 2},  # (3, 5, 6)
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 2},  # (4, 4, 5)
        {"type": "Sigmoid"},
        {"type": "Flatten"},
        {"type": "Dropout", "p": 0.5},
        {"type": "Dense", "out_features": 6},
        {"type": "LeakyReLU", "negative_slope": 0.1},
        {"type": "Dense", "out_features": 4},
    ],
}


def _pass(model: Any, x: np.ndarray, target: int) -> dict[str, Any]:
    """One forward and backward pass (cross-entropy on `target`), every layer's arrays for the first example."""
    logits = model.forward(x)
    loss, dlogits = softmax_cross_entropy(logits, [target])
    model.backward(dlogits)
    layers = []
    for layer, entry in zip(model.layers, model.trace, strict=True):
        row: dict[str, Any] = {"index": entry.index, "name": entry.name, "kind": entry.kind}
        for key in ("input", "output", "delta", "grad_input"):
            row[key] = wire_array(getattr(entry, key)[0])
        row.update({f"d{k}": wire_array(g) for k, g in entry.param_grads.items()})
        row.update({k: wire_array(p) for k, p in layer.params.items()})
        if "routing" in entry.extras:
            routing = entry.extras["routing"][0]  # (C, OH, OW, 2)
            winners = np.zeros(entry.input.shape[1:])
            winners[np.arange(routing.shape[0])[:, None, None], routing[..., 0], routing[..., 1]] = 1
            row.update(routing=wire_array(routing, "int32"), winners=wire_array(winners))
        row.update(layer.config())  # what GET /api/model says of it: stride, padding, size, negative_slope…
        layers.append(row)
    return {
        "target": target,
        "input": wire_array(x[0]),
        "logits": wire_array(logits[0]),
        "probs": wire_array(softmax(logits)[0]),
        "cross_entropy": loss,
        "squared_error": mean_squared_error(logits, [target])[0],
        "layers": layers,
    }


def engine_fixtures(seed: int = 0) -> dict[str, Any]:
    """A small odd-shaped network on random input, and the pretrained LeNet-5 (float64) on an MNIST digit."""
    rng = np.random.default_rng(seed)
    small = build_model(SMALL_NET, rng=rng)
    for name, p in small.named_params().items():
        if name.endswith(".b"):
            p[...] = rng.normal(scale=0.1, size=p.shape)  # non-zero biases, so a bias left out shows
    lenet = load_pretrained(dtype="float64")
    images, _ = load_samples()
    return {
        "small": _pass(small, rng.normal(size=(1, *SMALL_INPUT)), target=3),
        "lenet5": _pass(lenet, images[7][None, None] / 255.0, target=2),  # a "7" pushed towards 2: large gradients
        "smooth": _pass(build_model(SMOOTH_NET, rng=rng), rng.normal(size=(1, 1, 11, 13)), target=1),
    }


def seed_fixtures() -> dict[str, Any]:
    """Seed 000's worked example (tests/cnn/seed_example.py): its input, filters, δ and printed numbers, and the
    ∂E/∂input of the engine's Conv2D on it (the seed prints none)."""
    layer = Conv2D(3, 2, 3, stride=seed.STRIDE, padding=seed.PADDING)
    layer.params["W"][...], layer.params["b"][...] = seed.W, seed.BIAS
    layer.forward(seed.A[None])
    dx = layer.backward(seed.B[None])
    assert dx is not None
    return {
        "a": wire_array(seed.A), "w": wire_array(seed.W), "bias": wire_array(seed.BIAS), "delta": wire_array(seed.B),
        "stride": seed.STRIDE, "padding": seed.PADDING, "lr": seed.LEARNING_RATE,
        "forward_output": wire_array(seed.FORWARD_OUTPUT), "w_after": wire_array(seed.W_AFTER_UPDATE),
        "bias_after": wire_array(seed.BIAS_AFTER_UPDATE), "grad_input": wire_array(dx[0]),
    }


# ------------------------------------------------------------------------------------------------------ tensors


def tensor_fixtures(seed: int = 0) -> dict[str, Any]:
    """Arrays as the server puts them in JSON (README: little-endian float32, uint8, int32, in base64), with numpy's
    values; and numpy's answers to argmax, ravel, unravel, outer."""
    rng = np.random.default_rng(seed)
    arrays = {
        "float32": rng.normal(size=(3, 5, 2)).astype("<f4"),
        "uint8": rng.integers(0, 256, size=(4, 7)).astype("u1"),
        "int32": rng.integers(-(2**31), 2**31, size=(6,)).astype("<i4"),
    }
    shapes = [[6, 28, 28], [16, 6, 5, 5], [3, 1, 7, 2], [10, 84], [400]]
    indices = []
    for shape in shapes:
        flat = rng.integers(0, int(np.prod(shape)), size=20)
        indices.append({"shape": shape, "flat": flat.tolist(),
                        "multi": np.stack(np.unravel_index(flat, shape), axis=1).tolist()})
    ties = rng.integers(-3, 4, size=40).astype(float)  # repeated maxima: numpy takes the first
    u, v = rng.normal(size=7), rng.normal(size=11)
    return {
        "base64": [{"dtype": d, "shape": list(a.shape), "data": base64.b64encode(a.tobytes()).decode("ascii"),
                    "values": wire_array(a)} for d, a in arrays.items()],
        "indices": indices,
        "argmax": {"data": wire_array(ties), "argmax": int(np.argmax(ties)),
                   "argmax_abs": int(np.argmax(np.abs(ties)))},
        "outer": {"u": wire_array(u), "v": wire_array(v), "scale": -0.37,
                  "expected": wire_array(-0.37 * np.outer(u, v))},
    }
