"""The fully connected layer (seed 002), one weight at a time."""

import numpy as np

from cnn.reference.array import Array


def dense_forward(x: Array, weights: Array, bias: Array) -> Array:
    """x (D,) -> net (K,): net_k = Σ_d w_kd x_d + b_k, weights (K, D), bias (K,)."""
    net = np.zeros(weights.shape[0])
    for k in range(weights.shape[0]):
        net[k] = bias[k]
        for d in range(weights.shape[1]):
            net[k] += weights[k, d] * x[d]
    return net


def dense_backward(x: Array, weights: Array, delta: Array) -> tuple[Array, Array, Array]:
    """δ (K,) -> ∂E/∂x (D,), ∂E/∂w (K, D) = δ·xᵀ, ∂E/∂b (K,) = δ (seed 002's fully connected layer)."""
    delta_input = np.zeros(weights.shape[1])
    weights_grad = np.zeros(weights.shape)
    for k in range(weights.shape[0]):
        for d in range(weights.shape[1]):
            delta_input[d] += weights[k, d] * delta[k]
            weights_grad[k, d] = delta[k] * x[d]
    return delta_input, weights_grad, np.array(delta, dtype=np.float64)
