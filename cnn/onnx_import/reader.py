"""Reading an ONNX file without trusting it: size limits, no external data, tensors checked before numpy sees them.

The file is parsed by onnx's protobuf classes from bytes in memory. Nothing in it is executed, and nothing outside
it is opened: `onnx.load(path)` would follow external-data references to other files, so it is never called.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import TensorProto, numpy_helper

from cnn.errors import ModelFileError

MAX_FILE_BYTES = 256 * 2**20  # 256 MiB: VGG16's 138 M weights in float32 would not fit; LeNet-size models are 0.2 MB
MAX_TENSOR_ELEMENTS = 32 * 2**20  # per tensor: 128 MiB in float32, 256 MiB once widened to float64
# Tensor types a weight, a shape or an axis list may have; anything else (strings, bool, …) is not a weight.
_NUMERIC = {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT64, TensorProto.INT32}


def read_model_proto(path: Path, max_file_bytes: int = MAX_FILE_BYTES) -> onnx.ModelProto:
    """The file's ModelProto, after checking its size and that it is an ONNX model at all."""
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    size = os.path.getsize(path)
    if size > max_file_bytes:
        raise ModelFileError(f"{path}: {size:,} bytes, more than the {max_file_bytes:,} an ONNX model may have here")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelFileError(f"{path}: not a readable ONNX model (truncated or another kind of file): {e}") from None
    if not proto.HasField("graph") or proto.ir_version <= 0 or not proto.opset_import or not proto.graph.node:
        raise ModelFileError(f"{path}: not an ONNX model (no graph, IR version or operator set in it)")
    return proto


def default_opset(proto: onnx.ModelProto, source: str) -> int:
    """The version of the standard operator set (domain "" or "ai.onnx") the file's nodes are written in."""
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    raise ModelFileError(f"{source}: the model imports no version of the standard ONNX operator set")


def tensor_to_array(tensor: TensorProto, what: str, max_elements: int = MAX_TENSOR_ELEMENTS) -> np.ndarray:
    """A TensorProto as a numpy array, refusing external data, huge tensors and non-numeric types."""
    if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
        raise ModelFileError(f"{what} keeps its data in an external file; only self-contained .onnx files are read "
                             "(save the model without external data)")
    count = math.prod(int(d) for d in tensor.dims)
    if any(d < 0 for d in tensor.dims) or count > max_elements:
        raise ModelFileError(f"{what} has shape {list(tensor.dims)} ({count:,} values), more than the "
                             f"{max_elements:,} one tensor may hold here")
    if tensor.data_type not in _NUMERIC:
        name = TensorProto.DataType.Name(tensor.data_type) if tensor.data_type in TensorProto.DataType.values() else "?"
        raise ModelFileError(f"{what} holds {name} values; weights and shapes must be float or int")
    try:
        return np.array(numpy_helper.to_array(tensor))  # a copy of its own, not a view of the protobuf's bytes
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{what}: its data does not match its shape {list(tensor.dims)}: {e}") from None


def attributes(node: onnx.NodeProto) -> dict[str, Any]:
    """A node's attributes as Python values (ints, floats, lists, bytes decoded to str); tensors stay TensorProto."""
    out: dict[str, Any] = {}
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.TENSOR:
            out[attr.name] = attr.t
        elif attr.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS, onnx.AttributeProto.SPARSE_TENSOR):
            out[attr.name] = attr  # refused by whoever reads it: no supported operator takes a subgraph
        elif attr.type == onnx.AttributeProto.FLOAT:
            # Stored as float32: 0.1 comes back as 0.10000000149. The shortest decimal that rounds to the same
            # float32 is what the exporter was given, so LeakyRelu's slope and BatchNorm's ε match PyTorch's in
            # float64 (to 1e-16, not 1e-9).
            out[attr.name] = float(str(np.float32(attr.f)))
        else:
            value = onnx.helper.get_attribute_value(attr)
            out[attr.name] = value.decode() if isinstance(value, bytes) else value
    return out
