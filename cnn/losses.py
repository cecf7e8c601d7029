"""Losses. Each returns (loss, ∂loss/∂outputs), averaged over the batch, so the gradient handed to the last layer is
its sensitivity map δ."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnn.layers.base import Array


def _labels(targets: Array | list[int] | int, N: int, K: int) -> Array:
    labels = np.asarray(targets)
    if labels.ndim == 0:
        labels = labels.reshape(1)
    if labels.shape != (N,) or labels.dtype.kind not in "iu":
        raise ValueError(f"targets must be {N} integer class labels, got shape {labels.shape} of {labels.dtype}")
    outside = (labels < 0) | (labels >= K)
    if outside.any():
        raise ValueError(f"target label {int(labels[outside][0])} is not a class: labels go from 0 to {K - 1}")
    return labels


def one_hot(labels: Array | list[int] | int, K: int, dtype: Any = np.float64) -> Array:
    """(N,) integer labels -> (N, K) rows with a single 1."""
    labels = _labels(labels, np.asarray(labels).size, K)
    out = np.zeros((labels.size, K), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out


def softmax(logits: Array) -> Array:
    """(N, K) -> (N, K) probabilities; shifted by the row maximum so exp never overflows."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits: Array, targets: Array | list[int] | int) -> tuple[float, Array]:
    """E = −(1/N) Σ log softmax(z)[t]; ∂E/∂z = (p − y)/N, the δ of the last layer.

    logits (N, K), targets (N,) integer labels. Uses log-sum-exp, so large logits give a finite loss.
    """
    N, K = logits.shape
    labels = _labels(targets, N, K)
    rows = np.arange(N)
    shifted = logits - logits.max(axis=1, keepdims=True)  # ≤ 0, so exp cannot overflow
    e = np.exp(shifted)
    norm = e.sum(axis=1, keepdims=True)  # ≥ 1: the maximum contributes e⁰
    loss = float((np.log(norm[:, 0]) - shifted[rows, labels]).sum()) / N
    grad = e / norm  # p
    grad[rows, labels] -= 1.0  # p − y
    if N > 1:
        grad /= N
    return loss, grad


def mean_squared_error(outputs: Array, targets: Array | list[int] | int) -> tuple[float, Array]:
    """E = (1/N) Σ ½ Σ_k (t_k − y_k)² (seed 002's squared error per example); ∂E/∂y = (y − t)/N.

    outputs (N, K); targets (N,) integer labels (made one-hot) or (N, K) target values.
    """
    N, K = outputs.shape
    target_arr = np.asarray(targets)
    if target_arr.shape == outputs.shape:
        t = target_arr.astype(outputs.dtype)
    else:
        t = one_hot(_labels(targets, N, K), K, outputs.dtype)
    diff = outputs - t
    return float(0.5 * np.sum(diff * diff) / N), diff / N


LOSSES = {"cross_entropy": softmax_cross_entropy, "mse": mean_squared_error}
