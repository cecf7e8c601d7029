"""A learner's own model file -> the architecture, weights and description a session runs on (POST /api/model).

    uploaded = read_uploaded_model(data, "lenet.onnx", limits)   .onnx or .npz bytes -> UploadedModel (spec, params,
                                                                  meta: labels, mean/std, what the import changed)
    meta = with_user_choices(uploaded.meta, labels=..., mean=..., std=...)

The file is parsed by cnn.load_model_with_info (nothing in it executed, no external data followed) from a private
temporary folder, and every refusal is an AppError whose message is the library's, with the folder left out: 422 for
a valid file the engine cannot run (an operator, a shape), 400 for a broken or foreign one, 413 for one over a limit.

`meta` is plain JSON data, kept in SessionState.model, so a session on another process (the Redis store) reads the
same labels and normalization:

    {"file": "lenet.onnx", "format": "onnx", "output": "logits", "labels": [...] | None, "mean": [...] | None,
     "std": [...] | None, "notes": [{"op", "node", "action", "why"}], "opset": 17 | None, "producer": "pytorch"}
"""

from __future__ import annotations

import json
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.errors import AppError, InvalidRequest, TooLarge
from cnn import (
    ModelFileError,
    ModelInfo,
    ShapeError,
    SpecError,
    UnsupportedModelError,
    load_model_with_info,
    normalize_spec,
    read_model_header,
    summary,
)

MODEL_SUFFIXES = (".onnx", ".npz")
# Inputs larger than this per side are refused: every layer's maps travel to the page at each pass.
MAX_INPUT_SIDE = 128
MAX_CLASSES = 1000
# Every layer's output for one input, in values: the page receives them all at each pass (float32), and a backward
# holds as many δs. 4 M values is 16 MB on the wire, some 20 times LeNet-5 on a 128×128 input.
MAX_ACTIVATIONS = 4 * 2**20
# An .npz is a zip: its members may not unpack to more than this many times the file (weights compress little; a
# zip of zeros would unpack to a thousand times its size).
NPZ_EXPANSION = 4


class ModelUploadError(AppError):
    """A model file that cannot be read: truncated, foreign, or not an .onnx or .npz."""

    status_code, code = 400, "bad_model_file"


class UnsupportedModel(AppError):
    """A well-formed model the engine cannot run: an operator, an attribute or a shape it lacks."""

    status_code, code = 422, "unsupported_model"


def model_too_large(size: int, limit: int, at_least: bool = False) -> TooLarge:
    return TooLarge("The model file", size, limit, at_least=at_least,
                    advice="The server's CNN_MAX_MODEL_BYTES sets the limit.")


@dataclass(frozen=True)
class UploadedModel:
    spec: dict[str, Any]
    params: dict[str, np.ndarray]  # float64, the session's own (writable) arrays
    meta: dict[str, Any]
    classes: int  # outputs of the model: one score per class


def _safe_name(filename: str) -> str:
    """The upload's name as it may appear in messages and on disk: its last part, plain characters only."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename.replace("\\", "/")).name)[:80].lstrip(".")
    return name or "model"


def describe(info: ModelInfo, file: str) -> dict[str, Any]:
    """A ModelInfo as the JSON data a session keeps (see the module docstring)."""
    return {"file": file, "format": info.format, "output": info.output,
            "labels": list(info.labels) if info.labels is not None else None,
            "mean": list(info.mean) if info.mean is not None else None,
            "std": list(info.std) if info.std is not None else None,
            "notes": [{"op": n.op, "node": n.node, "action": n.action, "why": n.why} for n in info.notes],
            "opset": info.opset, "producer": info.producer}


def check_runnable(spec: dict[str, Any], output_shape: tuple[int, ...], where: str) -> None:
    """What the visualizer needs beyond what the engine can build: a C×H×W image in, C 1 or 3 and H, W at most
    MAX_INPUT_SIDE, every layer's output together at most MAX_ACTIVATIONS values, and one score per class out."""
    shape = list(spec["input_shape"])
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise UnsupportedModel(f"{where}: the model reads {shape}; the visualizer reads images of C×H×W with C = 1 "
                               "(grey) or 3 (colour)")
    H, W = shape[1:]
    if max(H, W) > MAX_INPUT_SIDE:
        raise UnsupportedModel(f"{where}: the model reads {H}×{W} images; the visualizer takes at most "
                               f"{MAX_INPUT_SIDE}×{MAX_INPUT_SIDE} (every layer's maps travel to the page)")
    values = sum(int(np.prod(row.output_shape)) for row in summary(spec))
    if values > MAX_ACTIVATIONS:
        raise UnsupportedModel(f"{where}: the layers' outputs hold {values:,} values for one input; the visualizer "
                               f"shows at most {MAX_ACTIVATIONS:,} (every one travels to the page at each pass)")
    if len(output_shape) != 1 or not 2 <= output_shape[0] <= MAX_CLASSES:
        raise UnsupportedModel(f"{where}: the model's output has shape {list(output_shape)}; one score per class "
                               f"(2 to {MAX_CLASSES} classes) is needed")


def read_uploaded_model(data: bytes, filename: str, max_bytes: int) -> UploadedModel:
    """Model file bytes -> UploadedModel, in float64. Raises ModelUploadError, UnsupportedModel or TooLarge with the
    library's message, naming the file as uploaded."""
    name = _safe_name(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in MODEL_SUFFIXES:
        raise ModelUploadError(f"{name}: not a model file this visualizer reads; send an .onnx file (as PyTorch and "
                               "most frameworks export) or an .npz saved by cnn-train")
    if len(data) > max_bytes:
        raise model_too_large(len(data), max_bytes)
    with tempfile.TemporaryDirectory(prefix="cnn-model-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        if suffix == ".npz":
            _check_npz(path, name, len(data))
        try:
            model, info = load_model_with_info(path, dtype="float64")
        except UnsupportedModelError as e:
            raise UnsupportedModel(str(e).replace(str(path), name)) from None
        except ModelFileError as e:
            raise ModelUploadError(str(e).replace(str(path), name)) from None
        except (ValueError, MemoryError) as e:  # a file the library's own checks let through to numpy
            raise ModelUploadError(f"{name}: the model could not be read ({e})") from None
    spec = normalize_spec(model.spec())
    check_runnable(spec, model.output_shape, name)
    params = {k: np.array(v, dtype=np.float64) for k, v in model.named_params().items()}
    return UploadedModel(spec=spec, params=params, meta=describe(info, name), classes=model.output_shape[0])


def _check_npz(path: Path, name: str, size: int) -> None:
    """An .npz that unpacks to at most NPZ_EXPANSION times its size, whose spec asks for no more weights than the file
    holds: the engine allocates a spec's weights before it reads the file's, so a short header could ask for
    gigabytes. (zipfile reads no more of a member than its declared size: the declared sizes bound the unpacking.)"""
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        return  # not a zip: the library says so in its words
    if unpacked > NPZ_EXPANSION * size + 2**20:
        raise ModelUploadError(f"{name}: the archive unpacks to {unpacked:,} bytes from {size:,}; a model's weights "
                               f"take at most {NPZ_EXPANSION} times the file")
    try:
        header = read_model_header(path)
        spec = header.get("spec")
        declared = summary(spec).total_params if isinstance(spec, dict) else 0
    except (ModelFileError, SpecError, ShapeError, KeyError, TypeError, ValueError):
        return  # a header or spec the library refuses, with its own message
    held = unpacked // 2  # float16 values at the least precise: an upper bound on the weights the file holds
    if declared > held:
        raise ModelUploadError(f"{name}: the spec asks for {declared:,} weights; the file holds at most {held:,}")


def _numbers(text: str, what: str, count: int) -> list[float]:
    try:
        parsed = json.loads(text) if text.strip().startswith("[") else [p for p in text.split(",") if p.strip()]
        values = [float(v) for v in parsed]
    except (ValueError, TypeError):
        raise InvalidRequest(f"{what}: expected {count} numbers separated by commas, got {text[:40]!r}") from None
    if len(values) != count or not all(np.isfinite(values)):
        raise InvalidRequest(f"{what}: expected {count} finite number{'s' if count > 1 else ''} (one per input "
                             f"channel), got {text[:40]!r}")
    return values


def with_user_choices(meta: dict[str, Any], channels: int, classes: int, labels: str | None = None,
                      mean: str | None = None, std: str | None = None) -> dict[str, Any]:
    """`meta` with the labels and normalization the learner gave instead of (or besides) the file's: labels separated
    by commas, mean and std as C numbers each. Empty text means: keep the file's."""
    meta = dict(meta)
    if labels and labels.strip():
        names = [p.strip() for p in labels.split(",")]
        if len(names) != classes or not all(names) or max(len(n) for n in names) > 64:
            raise InvalidRequest(f"labels: expected {classes} names separated by commas (one per output, each at most "
                                 f"64 characters), got {len(names)}")
        meta["labels"] = names
    given = [bool(v and v.strip()) for v in (mean, std)]
    if any(given):
        if not all(given):
            raise InvalidRequest("mean and std come together: give both, one number per input channel each")
        meta["mean"] = _numbers(mean or "", "mean", channels)
        meta["std"] = _numbers(std or "", "std", channels)
        if min(meta["std"]) <= 0:
            raise InvalidRequest(f"std: every value must be positive, got {meta['std']}")
    return meta


__all__ = ["MAX_INPUT_SIDE", "ModelUploadError", "UnsupportedModel", "UploadedModel", "check_runnable", "describe",
           "model_too_large", "read_uploaded_model", "with_user_choices"]
