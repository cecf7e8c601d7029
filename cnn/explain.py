"""Why the network predicts what it does, as maps over the input: saliency, Grad-CAM and occlusion.

Each explains one class's score (its logit, before the softmax, so that other classes do not enter it) for one input
x of shape input_shape, and returns a map the size of the input's image (H, W):

- `saliency`: |∂score/∂x|, the largest over channels (Simonyan, Vedaldi, Zisserman 2014): which pixels, changed a
  little, change the score most.
- `grad_cam`: the feature maps A_k of the last convolution (after its activation, when one follows), each weighted
  by α_k, the spatial mean of ∂score/∂A_k, summed, and only the positive part kept (Selvaraju et al. 2017); then
  enlarged to the input's size. Where the last convolution saw evidence for the class.
- `occlusion`: the score's drop when a square patch of the input is blanked, for every position of the patch (Zeiler
  and Fergus 2014): what the prediction cannot do without. Positive where hiding the pixels lowers the score.

All are computed by the engine's own forward and backward passes; the model's trace is left as the last pass made it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cnn.layers import Conv2D
from cnn.layers.base import Array
from cnn.model import Sequential

ACTIVATIONS = ("ReLU", "Sigmoid", "Tanh", "LeakyReLU")


def _image_shape(model: Sequential) -> tuple[int, int]:
    shape = model.input_shape
    if len(shape) != 3:
        raise ValueError(f"explanations are maps over an image: the model takes {shape}, not (C, H, W)")
    return int(shape[1]), int(shape[2])


def _one(model: Sequential, x: Array) -> Array:
    x = np.asarray(x, dtype=model.dtype)
    if x.shape == tuple(model.input_shape):
        x = x[None]
    if x.shape != (1, *model.input_shape):
        raise ValueError(f"one input of shape {tuple(model.input_shape)} is explained at a time, got {x.shape}")
    return x


def _score_gradient(model: Sequential, x: Array, target: int) -> Array:
    """Forward, then backward from the one-hot of `target` on the logits: ∂score/∂ of every layer's output."""
    logits = model.forward(x)
    if not 0 <= target < logits.shape[1]:
        raise ValueError(f"class {target} is not one of the model's {logits.shape[1]} outputs")
    seed = np.zeros_like(logits)
    seed[0, target] = 1.0
    return model.backward(seed)


def saliency(model: Sequential, x: Array, target: int) -> Array:
    """|∂score_target/∂x| as (H, W): for several channels, the largest of them."""
    _image_shape(model)
    dx = _score_gradient(model, _one(model, x), target)
    return np.abs(dx[0]).max(axis=0)


@dataclass(frozen=True)
class GradCam:
    """The map (H, W) and what it was made of: the layer whose maps were weighted, its maps A (K, h, w), the weights
    α (K,), and the map at that layer's own size (h, w), before it was enlarged."""

    map: Array
    layer: str
    activations: Array
    weights: Array
    coarse: Array


def last_convolution(model: Sequential) -> int:
    """The index of the layer Grad-CAM weights: the last Conv2D, or the activation right after it."""
    convs = [i for i, layer in enumerate(model.layers) if isinstance(layer, Conv2D)]
    if not convs:
        raise ValueError("Grad-CAM needs a convolution; this model has none")
    i = convs[-1]
    if i + 1 < len(model.layers) and model.trace[i + 1].kind in ACTIVATIONS:
        return i + 1
    return i


def grad_cam(model: Sequential, x: Array, target: int) -> GradCam:
    """Grad-CAM for `target` at the last convolution, enlarged to the input's (H, W) by bilinear interpolation."""
    height, width = _image_shape(model)
    _score_gradient(model, _one(model, x), target)
    k = last_convolution(model)
    entry = model.trace[k]
    activations = np.asarray(entry.output)[0]  # (K, h, w)
    grads = np.asarray(entry.delta)[0]  # ∂score/∂A, what the layer after it passed back
    weights = grads.mean(axis=(1, 2))
    coarse = np.maximum(np.tensordot(weights, activations, axes=1), 0.0)
    enlarged = Image.fromarray(coarse.astype(np.float32)).resize((width, height), Image.Resampling.BILINEAR)
    return GradCam(np.asarray(enlarged, dtype=np.float64), entry.name, activations, weights, coarse)


def occlusion(model: Sequential, x: Array, target: int, patch: int = 6, stride: int = 2, fill: float = 0.0,
              batch: int = 64) -> Array:
    """score(x) − score(x with a patch × patch square set to `fill`) for every position of the square (stride
    `stride`), as (H, W): each pixel gets the mean drop over the squares that covered it."""
    height, width = _image_shape(model)
    if not 1 <= patch <= min(height, width) or stride < 1:
        raise ValueError(f"patch must be 1 to {min(height, width)} and stride at least 1, got {patch} and {stride}")
    x = _one(model, x)
    base = float(model.forward(x)[0, target])
    tops = list(range(0, height - patch + 1, stride))
    lefts = list(range(0, width - patch + 1, stride))
    positions = [(t, left) for t in tops for left in lefts]
    drops = np.empty(len(positions))
    for start in range(0, len(positions), batch):
        chunk = positions[start : start + batch]
        occluded = np.repeat(x, len(chunk), axis=0)
        for j, (t, left) in enumerate(chunk):
            occluded[j, :, t : t + patch, left : left + patch] = fill
        drops[start : start + len(chunk)] = base - model.forward(occluded)[:, target]
    total = np.zeros((height, width))
    count = np.zeros((height, width))
    for (t, left), drop in zip(positions, drops, strict=True):
        total[t : t + patch, left : left + patch] += drop
        count[t : t + patch, left : left + patch] += 1
    model.forward(x)  # the trace is this input's again, as the other explanations leave it
    return np.divide(total, count, out=np.zeros_like(total), where=count > 0)


__all__ = ["GradCam", "grad_cam", "last_convolution", "occlusion", "saliency"]
