"""ONNX models as engine models: `read_onnx(path)` turns the file's graph into a spec, weights and a ModelInfo.

What is read (anything else is refused with UnsupportedModelError, naming the operator, the node and the opset):
Conv (group 1, dilation 1, any pads, strides and auto_pad), MaxPool and AveragePool (square windows, ceil_mode only
where it changes nothing), GlobalAveragePool and ReduceMean over H and W, Relu, LeakyRelu, Sigmoid, Tanh, Flatten and
Reshape (flattening each example), Gemm and MatMul with the Add of a bias, BatchNormalization (folded into the layer
before it, else a BatchNorm layer), Dropout and Identity (dropped), Constant, and a final Softmax or LogSoftmax
(left out, remembered as the output's meaning). Operator sets 13 to 20; both of PyTorch's exporters.

Limits (arguments, defaults in module constants): the file's size (MAX_FILE_BYTES), each tensor's number of values
(MAX_TENSOR_ELEMENTS), and the input: C×H×W with C = 1 or 3 and H, W at most MAX_INPUT_SIDE. Weights kept in other
files (external data) are refused: only the one file is ever opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from cnn.errors import ModelFileError, UnsupportedModelError
from cnn.layers import Shape
from cnn.model import default_names
from cnn.modelinfo import ModelInfo, read_labels, read_normalization
from cnn.onnx_import.graph import SUPPORTED_OPS, GraphReader
from cnn.onnx_import.reader import MAX_FILE_BYTES, MAX_TENSOR_ELEMENTS, default_opset, read_model_proto

MAX_INPUT_SIDE = 512  # pixels: the engine keeps every layer's maps for the views, so inputs stay image-sized
MIN_OPSET, MAX_OPSET = 13, 20
_INPUT_DTYPES = {TensorProto.FLOAT: "float32", TensorProto.FLOAT16: "float32", TensorProto.DOUBLE: "float64"}


@dataclass(frozen=True)
class OnnxModel:
    """What an ONNX file becomes: a spec (cnn.spec's format, layers named), its weights by "layer.param", the info."""

    spec: dict[str, Any]
    params: dict[str, np.ndarray]
    info: ModelInfo


def _input(graph: onnx.GraphProto, source: str, max_side: int) -> tuple[str, Shape, int, str]:
    """The graph's one input: (name, (C, H, W), the batch size written in or 1, dtype)."""
    weights = {t.name for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in weights]
    if len(inputs) != 1:
        raise UnsupportedModelError(f"{source}: the model has {len(inputs)} inputs; one image input is supported")
    tensor = inputs[0].type.tensor_type
    if tensor.elem_type not in _INPUT_DTYPES:
        raise UnsupportedModelError(f"{source}: the input holds {TensorProto.DataType.Name(tensor.elem_type)} "
                                    "values; a float image is expected")
    dims = [(d.dim_value if d.HasField("dim_value") else None) for d in tensor.shape.dim]
    if len(dims) != 4 or any(d is None for d in dims[1:]):
        shown = ["?" if d is None else d for d in dims]
        raise UnsupportedModelError(f"{source}: the input has shape {shown}; (N, C, H, W) with C, H and W fixed is "
                                    "expected (export with a fixed image size)")
    C, H, W = (int(d) for d in dims[1:])  # type: ignore[arg-type]
    if C not in (1, 3):
        raise UnsupportedModelError(f"{source}: the input has {C} channels; 1 (grey) or 3 (colour) are supported")
    if max(H, W) > max_side:
        raise UnsupportedModelError(f"{source}: the input is {H}×{W}; at most {max_side}×{max_side} is supported")
    return inputs[0].name, (C, H, W), int(dims[0] or 1), _INPUT_DTYPES[tensor.elem_type]


def read_onnx(path: str | Path, *, max_file_bytes: int = MAX_FILE_BYTES,
              max_tensor_elements: int = MAX_TENSOR_ELEMENTS, max_input_side: int = MAX_INPUT_SIDE) -> OnnxModel:
    """The ONNX file at `path` as an engine spec, weights and ModelInfo; ModelFileError (or its subclass
    UnsupportedModelError, for a valid file the engine cannot express) says why not."""
    path = Path(path)
    source = str(path)
    proto = read_model_proto(path, max_file_bytes)
    opset = default_opset(proto, source)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise UnsupportedModelError(f"{source}: operator set {opset} is outside the supported {MIN_OPSET} to "
                                    f"{MAX_OPSET}; export with opset_version between them")
    graph = proto.graph
    name, input_shape, batch, dtype = _input(graph, source, max_input_side)
    reader = GraphReader(graph, opset, source, name, input_shape, batch, max_tensor_elements)
    reader.read(list(graph.node))
    if len(graph.output) != 1 or graph.output[0].name != reader.current:
        outputs = [o.name for o in graph.output]
        raise UnsupportedModelError(f"{source}: the model's outputs {outputs} are not the end of its chain of "
                                    f"layers ({reader.current!r}); one output, from the last node, is supported")
    if not reader.layers:
        raise UnsupportedModelError(f"{source}: the model has no layers the engine can show. Supported: "
                                    f"{', '.join(SUPPORTED_OPS)}")
    if len(reader.shape) != 1:
        raise UnsupportedModelError(f"{source}: the model's output has shape {reader.shape} per example; a "
                                    "classifier ending in (K,) class scores is expected")
    names = default_names([layer["type"] for layer in reader.layers])
    params = {f"{n}.{k}": v for n, p in zip(names, reader.params, strict=True) for k, v in p.items()}
    for key, value in params.items():
        if not np.all(np.isfinite(value)):
            raise ModelFileError(f"{source}: parameter {key} holds NaN or infinite values")
    spec = {"input_shape": list(input_shape), "dtype": dtype,
            "layers": [{"type": layer["type"], "name": n, **{k: v for k, v in layer.items() if k != "type"}}
                       for n, layer in zip(names, reader.layers, strict=True)]}
    metadata = {p.key: p.value for p in proto.metadata_props}
    mean, std = read_normalization(source, metadata, input_shape[0])
    producer = " ".join(p for p in (proto.producer_name, proto.producer_version) if p) or None
    info = ModelInfo(
        format="onnx", input_shape=input_shape, output=reader.output,
        labels=read_labels(source, metadata, reader.shape[0]), mean=mean, std=std,
        notes=tuple(reader.notes), opset=opset, producer=producer,
        extra={k: v for k, v in metadata.items() if k not in ("labels", "mean", "std")},
    )
    return OnnxModel(spec, params, info)


__all__ = ["MAX_FILE_BYTES", "MAX_INPUT_SIDE", "MAX_TENSOR_ELEMENTS", "SUPPORTED_OPS", "OnnxModel", "read_onnx"]
