"""Models on disk: our .npz holds the spec (as JSON text) and every parameter, and loading never unpickles it; an
.onnx file (PyTorch's and other frameworks' export) is read through cnn.onnx_import. Either way a loaded model comes
with a ModelInfo: input shape, output meaning, labels, normalization, what an import changed."""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from cnn.errors import ModelFileError, ShapeError, SpecError
from cnn.model import Sequential
from cnn.modelinfo import ModelInfo, read_labels, read_normalization
from cnn.spec import build_model

FORMAT = "cnn-visualizer-model"
VERSION = 1


def save_model(path: str | os.PathLike[str], model: Sequential, metadata: dict[str, Any] | None = None) -> Path:
    """Write the model to `path` (.npz): its spec, its parameters as `param/<layer>.<name>`, and optional metadata.

    Written to a temporary file first and renamed, so an interrupted save never leaves a half-written model.
    """
    path = Path(path)
    header = {"format": FORMAT, "version": VERSION, "spec": model.spec(), "metadata": metadata or {}}
    arrays = {f"param/{k}": v for k, v in model.named_params().items()}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, header=np.array(json.dumps(header)), **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)
    return path


def read_model_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON header of a model file: format, version, spec and metadata."""
    return _open(Path(path))[0]


def _open(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    # Anything but a zip archive (a bare .npy, an HTML error page saved by mistake) is refused before numpy sees it.
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a readable model file (truncated or not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as e:
        raise ModelFileError(f"{path}: not a readable model file (truncated or not an .npz archive): {e}") from None
    except ValueError as e:  # an object array, which would need pickle
        raise ModelFileError(f"{path}: refused to load: {e}") from None
    if "header" not in arrays:
        raise ModelFileError(f"{path}: an .npz file, but not a cnn-visualizer model (it has no header)")
    try:
        header = json.loads(str(arrays.pop("header")))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: the model header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: not a cnn-visualizer model (its header is a {type(header).__name__})")
    if header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a cnn-visualizer model (format {header.get('format')!r})")
    if header.get("version") != VERSION:
        raise ModelFileError(f"{path}: model format version {header.get('version')}, this program reads {VERSION}")
    return header, arrays


def load_model(path: str | os.PathLike[str], dtype: str | None = None) -> Sequential:
    """Read a model file: our .npz (written by save_model) or, by its suffix, an .onnx export. A truncated, foreign,
    hostile or mismatched file raises ModelFileError; a valid ONNX model the engine cannot express raises its
    subclass UnsupportedModelError, naming the operator, the node and the opset.

    dtype ("float64" or "float32") overrides the stored one: a model trained in float32 is shown in float64.
    """
    return load_model_with_info(path, dtype)[0]


def load_model_info(path: str | os.PathLike[str]) -> ModelInfo:
    """What the model file says about its model besides the weights (see cnn.modelinfo.ModelInfo)."""
    return load_model_with_info(path)[1]


def load_model_with_info(path: str | os.PathLike[str], dtype: str | None = None) -> tuple[Sequential, ModelInfo]:
    """load_model and load_model_info from one reading of the file."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        from cnn.onnx_import import read_onnx  # here, not at the top: onnx costs `import cnn` ~90 ms otherwise

        imported = read_onnx(path)
        return _build(path, imported.spec, imported.params, dtype), imported.info
    header, arrays = _open(path)
    spec = header.get("spec")
    params = {k.removeprefix("param/"): v for k, v in arrays.items() if k.startswith("param/")}
    model = _build(path, spec, params, dtype)
    return model, _npz_info(path, header, model)


def _npz_info(path: Path, header: dict[str, Any], model: Sequential) -> ModelInfo:
    metadata = header.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: the model's metadata is a {type(metadata).__name__}, not a dict")
    mean, std = read_normalization(str(path), metadata, model.input_shape[0])
    classes = model.output_shape[0] if len(model.output_shape) == 1 else 0
    return ModelInfo(
        format="npz", input_shape=model.input_shape, labels=read_labels(str(path), metadata, classes), mean=mean,
        std=std, producer="cnn-visualizer", extra={k: v for k, v in metadata.items() if k not in ("labels", "mean",
                                                                                                  "std")},
    )


def _build(path: Path, spec: Any, params: dict[str, np.ndarray], dtype: str | None) -> Sequential:
    """The model a spec describes, holding `params`; anything that does not fit raises ModelFileError."""
    if dtype is not None and isinstance(spec, dict):
        spec = {**spec, "dtype": dtype}
    try:
        model = build_model(spec, np.random.default_rng(0))
    except (SpecError, ShapeError, KeyError, TypeError) as e:
        raise ModelFileError(f"{path}: the stored spec is not valid: {e}") from None
    try:
        model.load_params({k: v.astype(model.dtype, copy=False) for k, v in params.items()})
    except ValueError as e:
        raise ModelFileError(f"{path}: the weights do not match the stored spec: {e}") from None
    for name, value in model.named_params().items():
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"{path}: parameter {name} holds NaN or infinite values")
    return model
