"""An ONNX graph walked node by node into engine layers: each node becomes a layer, folds into the layer before it,
or is dropped, and every fold and drop is written down as an ImportNote.

Only chains are read: every node takes the running activation (the output of the node before it) plus constants.
A node that reads anything else (a skip connection, a second input) is refused with its name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from cnn.errors import ShapeError, SpecError, UnsupportedModelError
from cnn.layers import LAYER_TYPES, Shape
from cnn.model import default_names
from cnn.modelinfo import ImportNote
from cnn.onnx_import.reader import MAX_TENSOR_ELEMENTS, attributes, tensor_to_array
from cnn.onnx_import.windows import Window, WindowError, window

Array = np.ndarray

SUPPORTED_OPS = (
    "Add (a bias after Conv, Gemm or MatMul)", "AveragePool", "BatchNormalization", "Constant", "Conv", "Dropout",
    "Flatten", "Gemm", "GlobalAveragePool", "Identity", "LeakyRelu", "LogSoftmax (last)", "MatMul", "MaxPool",
    "ReduceMean (over H and W)", "Relu", "Reshape (to flatten)", "Sigmoid", "Softmax (last)", "Tanh",
)


class GraphReader:
    """Walks the nodes of one graph; `layers` (spec entries), `params` (one dict per layer) and `notes` come out."""

    def __init__(self, graph: onnx.GraphProto, opset: int, source: str, input_name: str, input_shape: Shape,
                 batch: int, max_tensor_elements: int = MAX_TENSOR_ELEMENTS) -> None:
        self.opset, self.source, self.batch = opset, source, batch
        self.max_tensor_elements = max_tensor_elements
        self.layers: list[dict[str, Any]] = []
        self.params: list[dict[str, Array]] = []
        self.notes: list[ImportNote] = []
        self.output = "logits"
        self.current, self.shape = input_name, tuple(input_shape)
        self.nonnegative = False  # known ≥ 0 (after ReLU, Sigmoid): zero padding then equals max-pool's −∞ padding
        self.foldable: int | None = None  # a Conv2D or Dense whose output is the running activation
        self.constants = {t.name: tensor_to_array(t, f"{source}: initializer {t.name!r}", max_tensor_elements)
                          for t in graph.initializer}
        if len(graph.sparse_initializer):
            raise UnsupportedModelError(f"{source}: sparse initializers are not supported")
        self.consumed = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
        self.ended_by: str | None = None  # the Softmax / LogSoftmax node that ended the chain
        self.handlers: dict[str, Callable[[onnx.NodeProto, dict[str, Any], str], None]] = {
            "Conv": self.conv, "MaxPool": self.max_pool, "AveragePool": self.average_pool,
            "GlobalAveragePool": self.global_average_pool, "ReduceMean": self.reduce_mean,
            "Relu": self.activation("ReLU", nonnegative=True), "Sigmoid": self.activation("Sigmoid", nonnegative=True),
            "Tanh": self.activation("Tanh"), "LeakyRelu": self.leaky_relu, "Flatten": self.flatten,
            "Reshape": self.reshape, "Gemm": self.gemm, "MatMul": self.matmul, "Add": self.add,
            "Softmax": self.softmax, "LogSoftmax": self.softmax, "Dropout": self.dropped, "Identity": self.identity,
            "BatchNormalization": self.batch_norm, "Constant": self.constant,
        }

    # The walk

    def read(self, nodes: list[onnx.NodeProto]) -> None:
        for i, node in enumerate(nodes):
            label = f"{node.op_type} node {node.name or f'#{i}'!r} (opset {self.opset})"
            if node.domain not in ("", "ai.onnx"):
                raise UnsupportedModelError(
                    f"{self.source}: {label} is from the operator domain {node.domain!r}, not standard ONNX. "
                    f"Supported: {', '.join(SUPPORTED_OPS)}")
            handler = self.handlers.get(node.op_type)
            if handler is None:
                raise UnsupportedModelError(f"{self.source}: {label}: the {node.op_type} operator is not supported. "
                                            f"Supported: {', '.join(SUPPORTED_OPS)}")
            if self.ended_by is not None and node.op_type != "Constant":
                raise UnsupportedModelError(f"{self.source}: {label} follows {self.ended_by}; Softmax and LogSoftmax "
                                            "are read only as the model's last operation")
            try:
                handler(node, attributes(node), label)
            except WindowError as e:
                raise UnsupportedModelError(f"{self.source}: {label}: {e}") from None

    def fail(self, label: str, problem: str) -> UnsupportedModelError:
        return UnsupportedModelError(f"{self.source}: {label}: {problem}")

    def take(self, node: onnx.NodeProto, label: str, data_at: int = 0) -> list[Array | None]:
        """Check that input `data_at` is the running activation and every other input a constant; returns those
        constants in input order (None for an omitted optional input)."""
        if len(node.input) <= data_at or node.input[data_at] != self.current:
            reads = node.input[data_at] if len(node.input) > data_at else "nothing"
            raise self.fail(label, f"it reads {reads!r}, not the running activation {self.current!r}; only chains of "
                                   "layers can be imported (no branches or skip connections)")
        constants: list[Array | None] = []
        for j, name in enumerate(node.input):
            if j == data_at:
                continue
            if name and name not in self.constants:
                raise self.fail(label, f"its input {name!r} is computed in the graph, not a constant; only chains "
                                       "of layers with constant weights can be imported")
            constants.append(self.constants[name] if name else None)
        return constants

    def advance(self, node: onnx.NodeProto, label: str) -> None:
        """The node's first output becomes the running activation; a used second output (a mask, indices) is
        refused."""
        extra = [o for o in node.output[1:] if o and o in self.consumed]
        if extra:
            raise self.fail(label, f"its extra output {extra[0]!r} is used; only the first output can be imported")
        self.current = node.output[0]

    def append(self, kind: str, config: dict[str, Any], label: str, params: dict[str, Array] | None = None,
               nonnegative: bool = False) -> None:
        """Add a layer after the others, working out its output shape; a layer that does not fit is refused."""
        cls = LAYER_TYPES[kind]
        try:
            config = cls.complete_config(config, self.shape)
            self.shape = cls.shape_rule(self.shape, **config)[0]
        except (ShapeError, SpecError, KeyError, TypeError) as e:
            raise self.fail(label, f"as a {kind} layer it does not fit its input {self.shape}: {e}") from None
        self.layers.append({"type": kind, **config})
        self.params.append(params or {})
        self.foldable = len(self.layers) - 1 if kind in ("Conv2D", "Dense") else None
        self.nonnegative = nonnegative

    def note(self, node: onnx.NodeProto, action: str, why: str) -> None:
        self.notes.append(ImportNote(node.op_type, node.name, action, why))

    def layer_ref(self, index: int) -> str:
        """A layer's name as the spec will give it: default names count per kind, so later layers do not change it."""
        return default_names([layer["type"] for layer in self.layers])[index]

    def maps(self, label: str) -> tuple[int, int, int]:
        if len(self.shape) != 3:
            raise self.fail(label, f"it needs maps (C, H, W), but its input has shape {self.shape}")
        C, H, W = self.shape
        return C, H, W

    # Windows: Conv, MaxPool, AveragePool

    def padded(self, node: onnx.NodeProto, label: str, win: Window, nonneg_before: bool) -> None:
        """A ZeroPad2D before a window that is not padded evenly (or crops unreached rows)."""
        self.append("ZeroPad2D", {"padding": win.zero_pad()}, label, nonnegative=nonneg_before)
        left, right, top, bottom = win.zero_pad()
        self.note(node, f"padded first by {self.layer_ref(len(self.layers) - 1)} (left {left}, right {right}, top "
                  f"{top}, bottom {bottom})", "ONNX pads each side by its own amount and drops the rows and columns "
                  "a stride never reaches (a negative amount crops them); the engine's windows pad every side alike")

    def conv(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        W, b = (self.take(node, label) + [None, None])[:2]
        C, H, Wd = self.maps(label)
        if W is None or W.ndim != 4:
            raise self.fail(label, "its weights are not a constant (F, C, KH, KW) tensor: only 2-D convolutions")
        if a.get("group", 1) != 1:
            raise self.fail(label, f"group={a['group']} (grouped or depthwise convolution) is not supported, only 1")
        if W.shape[1] != C:
            raise self.fail(label, f"its weights expect {W.shape[1]} input channels, its input has {C}")
        win = window(a, (W.shape[2], W.shape[3]), (H, Wd))
        if not win.even:
            self.padded(node, label, win, self.nonnegative)
        F = W.shape[0]
        config = {"out_channels": F, "kernel_size": W.shape[2], "stride": win.stride, "padding": win.top if win.even
                  else 0}
        bias = np.zeros(F) if b is None else b.reshape(F)
        self.append("Conv2D", config, label, {"W": W.astype(np.float64), "b": bias.astype(np.float64)})
        self.advance(node, label)

    def max_pool(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        self.take(node, label)
        C, H, W = self.maps(label)
        win = window(a, tuple(a.get("kernel_shape", [0, 0])), (H, W))
        if win.pads and not self.nonnegative:
            raise self.fail(label, "padding is read only where its input is known to be ≥ 0 (after Relu or "
                                   "Sigmoid), where zero padding gives what ONNX's −∞ padding gives")
        if win.pads and max(win.zero_pad()) >= win.kernel:
            raise self.fail(label, f"padding {win.zero_pad()} as large as the window {win.kernel} is not supported")
        if win.zero_pad() != [0, 0, 0, 0]:
            self.padded(node, label, win, self.nonnegative)
        self.append("MaxPool2D", {"size": win.kernel, "stride": win.stride}, label, nonnegative=self.nonnegative)
        self.advance(node, label)

    def average_pool(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        self.take(node, label)
        C, H, W = self.maps(label)
        win = window(a, tuple(a.get("kernel_shape", [0, 0])), (H, W))
        if win.pads and not a.get("count_include_pad", 0):
            raise self.fail(label, "padding with count_include_pad=0 (means over fewer cells at the borders) is not "
                                   "supported; export with count_include_pad=True or without padding")
        if win.zero_pad() != [0, 0, 0, 0]:
            self.padded(node, label, win, self.nonnegative)
        self.append("AvgPool2D", {"size": win.kernel, "stride": win.stride}, label, nonnegative=self.nonnegative)
        self.advance(node, label)

    def global_average_pool(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        self.take(node, label)
        self.maps(label)
        self.append("GlobalAvgPool2D", {}, label, nonnegative=self.nonnegative)
        self.advance(node, label)

    def reduce_mean(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        constants = self.take(node, label)
        given = a.get("axes") if self.opset < 18 else (constants[0] if constants else None)  # an input from 18 on
        axes = None if given is None else [int(x) for x in np.ravel(given)]
        self.maps(label)
        if axes is None or sorted(x % 4 for x in axes) != [2, 3]:
            raise self.fail(label, f"it averages over axes {axes if axes is not None else 'all'}; only "
                                   "the mean over H and W (axes 2, 3) is supported")
        self.append("GlobalAvgPool2D", {}, label, nonnegative=self.nonnegative)
        if not a.get("keepdims", 1):
            self.append("Flatten", {}, label, nonnegative=self.nonnegative)
            self.note(node, "read as GlobalAvgPool2D and Flatten", "keepdims=0 drops the 1×1 axes")
        self.advance(node, label)

    # Element-wise

    def activation(self, kind: str, nonnegative: bool = False) -> Callable[[onnx.NodeProto, dict[str, Any], str],
                                                                            None]:
        def handle(node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
            self.take(node, label)
            self.append(kind, {}, label, nonnegative=nonnegative)
            self.advance(node, label)
        return handle

    def leaky_relu(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        self.take(node, label)
        self.append("LeakyReLU", {"negative_slope": float(a.get("alpha", 0.01))}, label)
        self.advance(node, label)

    # Shapes

    def flatten(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        self.take(node, label)
        axis = int(a.get("axis", 1))
        if axis % (len(self.shape) + 1) != 1:
            raise self.fail(label, f"axis={axis} would flatten the batch axis too; only axis=1 is supported")
        self.to_flat(node, label, "Flatten")

    def to_flat(self, node: onnx.NodeProto, label: str, what: str) -> None:
        if len(self.shape) == 1:
            self.note(node, "dropped", "its input is already flat")
        else:
            self.append("Flatten", {}, label, nonnegative=self.nonnegative)
            if what != "Flatten":
                self.note(node, f"read as {self.layer_ref(len(self.layers) - 1)}", what)
        self.advance(node, label)

    def reshape(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        (target,) = (self.take(node, label) + [None])[:1]
        if target is None:
            raise self.fail(label, "its target shape is not a constant")
        full = (self.batch, *self.shape)
        written = [int(t) for t in np.ravel(target)]
        resolved = [full[j] if t == 0 and not a.get("allowzero", 0) and j < len(full) else t
                    for j, t in enumerate(written)]
        if resolved.count(-1) == 1:
            known = int(np.prod([t for t in resolved if t != -1]))
            resolved[resolved.index(-1)] = int(np.prod(full)) // known if known else -1
        flat = int(np.prod(self.shape))
        if resolved == list(full):
            self.note(node, "dropped", "it leaves the shape as it is")
            self.advance(node, label)
        elif resolved == [self.batch, flat]:
            self.to_flat(node, label, f"its target shape {written} flattens each example; the batch "
                                      "size the exporter wrote in is not kept, so any batch size works")
        else:
            raise self.fail(label, f"it reshapes {full} to {written}; only flattening each example, "
                                   f"to ({self.batch}, {flat}), is supported")

    # Dense: Gemm, MatMul, and the bias Add after them

    def flat_features(self, label: str) -> int:
        if len(self.shape) != 1:
            raise self.fail(label, f"it needs a flat input (N, D), got maps {self.shape}; flatten first")
        return self.shape[0]

    def dense(self, node: onnx.NodeProto, label: str, W: Array, b: Array) -> None:
        """W (K, D), b (K,) as a Dense layer."""
        D = self.flat_features(label)
        if W.ndim != 2 or W.shape[1] != D:
            raise self.fail(label, f"its weights {W.shape} do not take {D} input features")
        self.append("Dense", {"out_features": W.shape[0]}, label, {"W": W.astype(np.float64),
                                                                   "b": b.astype(np.float64)})
        self.advance(node, label)

    def gemm(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        B, C = (self.take(node, label) + [None, None])[:2]
        if a.get("transA", 0):
            raise self.fail(label, "transA=1 (the input transposed) is not supported")
        if B is None or B.ndim != 2:
            raise self.fail(label, "its B is not a constant matrix")
        W = float(a.get("alpha", 1.0)) * (B if a.get("transB", 0) else B.T)  # (K, D), y = x Wᵀ
        K = W.shape[0]
        try:
            bias = float(a.get("beta", 1.0)) * np.broadcast_to(np.zeros(K) if C is None else C, (1, K)).reshape(K)
        except ValueError:
            raise self.fail(label, f"its C {None if C is None else C.shape} does not broadcast to ({K},)") from None
        self.dense(node, label, W, bias)

    def matmul(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        (B,) = (self.take(node, label) + [None])[:1]
        if B is None or B.ndim != 2:
            raise self.fail(label, "its second operand is not a constant matrix (D, K)")
        self.dense(node, label, B.T, np.zeros(B.shape[1]))

    def add(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        data_at = 1 if len(node.input) == 2 and node.input[1] == self.current else 0
        (c,) = self.take(node, label, data_at)
        if c is None or self.foldable is None:
            raise self.fail(label, "Add is read only as the bias right after Conv, Gemm or MatMul")
        b = self.params[self.foldable]["b"]
        try:
            per_output = np.broadcast_to(c, (1, *self.shape)).reshape(self.shape)
            flat = per_output.reshape(len(b), -1)
            if not np.all(flat == flat[:, :1]):
                raise ValueError
        except ValueError:
            raise self.fail(label, f"its constant {c.shape} is not one bias per output of {self.shape}") from None
        self.params[self.foldable]["b"] = b + flat[:, 0]
        self.note(node, f"folded into {self.layer_ref(self.foldable)}", "a constant added after it is its bias")
        self.advance(node, label)

    # Normalization, the end, and what is dropped

    def batch_norm(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        constants = self.take(node, label)
        if len(constants) != 4 or any(c is None for c in constants):
            raise self.fail(label, "it needs constant scale, bias, mean and variance")
        gamma, beta, mean, var = (np.asarray(c, dtype=np.float64).reshape(-1) for c in constants)
        if a.get("training_mode", 0):
            raise self.fail(label, "training_mode=1 (batch statistics) is not supported; export the model in eval "
                                   "mode")
        scale = gamma / np.sqrt(var + float(a.get("epsilon", 1e-5)))
        shift = beta - mean * scale
        if len(self.shape) not in (1, 3) or self.shape[0] != len(scale):
            raise self.fail(label, f"its {len(scale)} channels do not match its input {self.shape}")
        if self.foldable is not None:
            p = self.params[self.foldable]
            p["W"] = p["W"] * scale.reshape(-1, *[1] * (p["W"].ndim - 1))
            p["b"] = p["b"] * scale + shift
            self.note(node, f"folded into {self.layer_ref(self.foldable)}", "batch norm at inference is an affine "
                      "map per channel: it scales that layer's weights and shifts its bias")
        else:
            self.append("BatchNorm", {}, label, {"scale": scale, "shift": shift})
            self.note(node, f"kept as {self.layer_ref(len(self.layers) - 1)}", "no convolution or dense layer "
                      "right before it to fold it into")
        self.advance(node, label)

    def softmax(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        self.take(node, label)
        axis = int(a.get("axis", -1 if self.opset >= 13 else 1))
        if len(self.shape) != 1 or axis not in (1, -1):
            raise self.fail(label, f"only a softmax over the classes of a flat output is supported (axis {axis} of "
                                   f"{(self.batch, *self.shape)})")
        self.output = "probabilities" if node.op_type == "Softmax" else "log-probabilities"
        self.ended_by = label
        self.note(node, "left out", f"the engine's model returns logits and the loss applies the softmax; the "
                  f"file's output ({self.output}) is remembered in the model's info")
        self.advance(node, label)

    def dropped(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        self.take(node, label)
        self.note(node, "dropped", "the identity at inference")
        self.advance(node, label)

    def identity(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        if node.input and node.input[0] in self.constants:  # exporters pass weights through Identity nodes
            self.constants[node.output[0]] = self.constants[node.input[0]]
            return
        self.dropped(node, a, label)

    def constant(self, node: onnx.NodeProto, a: dict[str, Any], label: str) -> None:
        if "value" in a:
            value = tensor_to_array(a["value"], f"{self.source}: {label}", self.max_tensor_elements)
        elif "value_float" in a or "value_int" in a:
            value = np.array(a.get("value_float", a.get("value_int")))
        elif "value_floats" in a or "value_ints" in a:
            value = np.array(a.get("value_floats", a.get("value_ints")))
            if value.size > self.max_tensor_elements:
                raise self.fail(label, f"{value.size:,} values, more than {self.max_tensor_elements:,}")
        else:
            raise self.fail(label, f"only numeric constants are supported, not {sorted(a)}")
        self.constants[node.output[0]] = value
