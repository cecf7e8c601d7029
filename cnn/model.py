"""Sequential: layers in a row, passes that can be stepped one layer at a time, and the trace they leave."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from cnn.errors import ShapeError
from cnn.layers import Array, Layer, Shape
from cnn.trace import LayerTrace

_NAME_PREFIX = {"Conv2D": "conv", "MaxPool2D": "pool", "AvgPool2D": "avgpool", "Dense": "dense",
                "GlobalAvgPool2D": "gap"}  # "globalavgpool2d1" would not fit the summary's name column


def default_names(kinds: Sequence[str]) -> list[str]:
    """conv1, relu1, pool1, conv2, …: a running number per kind of layer."""
    counts: dict[str, int] = {}
    names = []
    for kind in kinds:
        prefix = _NAME_PREFIX.get(kind, kind.lower())
        counts[prefix] = counts.get(prefix, 0) + 1
        names.append(f"{prefix}{counts[prefix]}")
    return names


class Sequential:
    """A stack of layers: x (N, *input_shape) -> out (N, *output_shape).

    `forward` and `backward` run whole passes; `forward_steps` and `backward_steps` yield after every layer, so a
    pass can be walked through one layer at a time. Either way `trace` holds, per layer, what the passes computed.
    `backward_params` is training's backward: the same gradients and trace, without ∂E/∂input.
    """

    def __init__(self, layers: Sequence[Layer], input_shape: Shape, names: Sequence[str] | None = None) -> None:
        self.layers = list(layers)
        self.input_shape = tuple(int(s) for s in input_shape)
        self.names = list(names) if names is not None else default_names([layer.kind for layer in self.layers])
        if len(self.names) != len(self.layers) or len(set(self.names)) != len(self.names):
            raise ValueError(f"need one unique name per layer, got {self.names}")
        self.shapes = self._infer_shapes()
        weighted = [w for layer in self.layers for w in layer.params.values()]
        self.dtype = weighted[0].dtype if weighted else np.dtype(np.float64)
        self.trace: list[LayerTrace] = self._empty_trace()

    def _infer_shapes(self) -> list[Shape]:
        shapes, shape = [], self.input_shape
        for i, (name, layer) in enumerate(zip(self.names, self.layers, strict=True)):
            try:
                shape = layer.output_shape(shape)
            except ShapeError as e:
                raise ShapeError(f"layer {i} ({name}, {layer.kind}): {e}") from None
            shapes.append(shape)
        return shapes

    def _empty_trace(self) -> list[LayerTrace]:
        return [LayerTrace(i, n, layer.kind) for i, (n, layer) in enumerate(zip(self.names, self.layers, strict=True))]

    @property
    def output_shape(self) -> Shape:
        return self.shapes[-1] if self.shapes else self.input_shape

    def __len__(self) -> int:
        return len(self.layers)

    def _check_input(self, x: Array) -> Array:
        x = np.asarray(x)
        if x.ndim != len(self.input_shape) + 1 or x.shape[1:] != self.input_shape:
            expected = ", ".join(str(s) for s in self.input_shape)
            raise ShapeError(f"the model expects input of shape (N, {expected}), got {x.shape}")
        return x.astype(self.dtype, copy=False)

    # Forward

    def forward(self, x: Array, train: bool = False) -> Array:
        """x (N, *input_shape) -> out (N, *output_shape); records the trace."""
        x = self._check_input(x)
        self.trace = self._empty_trace()
        for layer, entry in zip(self.layers, self.trace, strict=True):
            x = self._forward_layer(layer, entry, x, train)
        return x

    def forward_steps(self, x: Array, train: bool = False) -> Iterator[LayerTrace]:
        """x (N, *input_shape) -> the trace, one layer at a time: each layer's entry as soon as its output exists."""
        x = self._check_input(x)
        self.trace = self._empty_trace()
        for layer, entry in zip(self.layers, self.trace, strict=True):
            x = self._forward_layer(layer, entry, x, train)
            yield entry

    @staticmethod
    def _forward_layer(layer: Layer, entry: LayerTrace, x: Array, train: bool) -> Array:
        layer.training = train
        out = layer.forward(x)
        entry.input, entry.output, entry.extras = x, out, layer.extras()
        return out

    # Backward

    def backward(self, dloss: Array) -> Array:
        """dloss ∂E/∂output (N, *output_shape) -> dx ∂E/∂input (N, *input_shape), the saliency map; fills every
        layer's grads and the trace."""
        dout = self._start_backward(dloss)
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self._backward_layer(i, dout)
        return dout

    def backward_steps(self, dloss: Array) -> Iterator[LayerTrace]:
        """dloss ∂E/∂output (N, *output_shape) -> the trace, from the last layer to the first: each layer's entry
        as soon as its gradients exist. The first layer's grad_input is ∂E/∂input, as backward returns it."""
        dout = self._start_backward(dloss)
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self._backward_layer(i, dout)
            yield self.trace[i]

    def backward_params(self, dloss: Array) -> None:
        """dloss ∂E/∂output (N, *output_shape) -> None; fills every layer's grads and the trace, as backward does,
        except ∂E/∂input: training's path. The first layer runs Layer.backward_params (for Conv2D no col2im) and
        its trace entry keeps grad_input None."""
        dout = self._start_backward(dloss)
        for i in range(len(self.layers) - 1, 0, -1):
            dout = self._backward_layer(i, dout)
        first, entry = self.layers[0], self.trace[0]
        first.backward_params(dout)
        self._record_backward(first, entry, dout, None)

    def _start_backward(self, dloss: Array) -> Array:
        """Check that a forward pass exists and that dloss has its output's shape; dloss in the model's dtype."""
        if not self.trace or self.trace[-1].output is None:
            raise RuntimeError("run forward before backward: there is nothing to propagate back through")
        expected = self.trace[-1].output.shape
        if dloss.shape != expected:
            raise ShapeError(f"the gradient of the loss must have the output's shape {expected}, got {dloss.shape}")
        return dloss.astype(self.dtype, copy=False)

    def _backward_layer(self, i: int, dout: Array) -> Array:
        layer = self.layers[i]
        dx = layer.backward(dout)
        self._record_backward(layer, self.trace[i], dout, dx)
        return dx

    @staticmethod
    def _record_backward(layer: Layer, entry: LayerTrace, dout: Array, dx: Array | None) -> None:
        entry.delta, entry.grad_input = dout, dx
        entry.param_grads = dict(layer.grads)
        entry.extras = layer.extras()

    # Parameters

    def named_params(self) -> dict[str, Array]:
        """{"conv1.W": array, "conv1.b": array, …} in layer order; the arrays themselves, not copies."""
        return self._named("params")

    def named_grads(self) -> dict[str, Array]:
        """{"conv1.W": ∂E/∂W, …} from the last backward pass."""
        return self._named("grads")

    def _named(self, attr: str) -> dict[str, Array]:
        pairs = zip(self.names, self.layers, strict=True)
        return {f"{name}.{key}": value for name, layer in pairs for key, value in getattr(layer, attr).items()}

    def load_params(self, values: dict[str, Array]) -> None:
        """Copy values into the parameters, checking that names and shapes agree."""
        params = self.named_params()
        if set(values) != set(params):
            missing, extra = sorted(set(params) - set(values)), sorted(set(values) - set(params))
            raise ValueError(f"parameters do not match the model: missing {missing}, unexpected {extra}")
        for name, value in values.items():
            if value.shape != params[name].shape:
                raise ValueError(f"{name} has shape {value.shape}, the model expects {params[name].shape}")
            params[name][...] = value

    def spec(self) -> dict[str, Any]:
        """The architecture as plain JSON-able data; build_model(model.spec()) makes the same network."""
        return {
            "input_shape": list(self.input_shape),
            "dtype": str(self.dtype),
            "layers": [
                {"type": layer.kind, "name": name, **layer.config()}
                for name, layer in zip(self.names, self.layers, strict=True)
            ],
        }
