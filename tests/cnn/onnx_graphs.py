"""Small ONNX models built with onnx.helper, so the importer is covered where PyTorch is absent."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def weight(name: str, rng: np.random.Generator, *shape: int) -> onnx.TensorProto:
    return numpy_helper.from_array((rng.standard_normal(shape) * 0.3).astype(np.float32), name)


def ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def model(nodes, initializers, input_shape=(1, 1, 8, 8), output="y", opset=13, metadata=None) -> onnx.ModelProto:
    """A graph from input "x" (N, C, H, W) to `output`, with the given nodes and initializers."""
    graph = helper.make_graph(
        nodes, "test", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], initializer=initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="test")
    proto.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto


def save(proto: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(proto.SerializeToString())
    return path


def small_classifier(rng: np.random.Generator, opset: int = 13, metadata=None) -> onnx.ModelProto:
    """Conv → Relu → MaxPool → Flatten → Gemm → Softmax on 1×8×8: the smallest complete classifier."""
    nodes = [
        helper.make_node("Conv", ["x", "W1", "b1"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "W2", "b2"], ["z"], name="fc", transB=1),
        helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=1),
    ]
    inits = [weight("W1", rng, 2, 1, 3, 3), weight("b1", rng, 2), weight("W2", rng, 3, 32), weight("b2", rng, 3)]
    return model(nodes, inits, opset=opset, metadata=metadata)
