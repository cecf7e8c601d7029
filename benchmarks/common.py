"""Shared helpers for the benchmarks: alternating timers and a PyTorch twin of a numpy model."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from cnn import Sequential


def time_alternating(
    runners: dict[str, Callable[[], object]], repeats: int, inner: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call for each runner, measured in alternation (A, B, A, B, …) so that noise on a shared machine
    hits every runner alike. Returns, per runner, one per-call time for each repeat."""
    for run in runners.values():
        for _ in range(warmup):
            run()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            for _ in range(inner):
                run()
            times[name].append((time.perf_counter() - start) / inner)
    return times


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_twin(model: Sequential) -> Any:
    """The same network in PyTorch, with the numpy model's weights copied in (NCHW and (out, in) layouts agree)."""
    import torch
    from torch import nn

    modules: list[nn.Module] = []
    for layer in model.layers:
        cfg = layer.config()
        if layer.kind == "Conv2D":
            modules.append(nn.Conv2d(cfg["in_channels"], cfg["out_channels"], cfg["kernel_size"],
                                     stride=cfg["stride"], padding=cfg["padding"]))
        elif layer.kind == "Dense":
            modules.append(nn.Linear(cfg["in_features"], cfg["out_features"]))
        elif layer.kind == "MaxPool2D":
            modules.append(nn.MaxPool2d(cfg["size"], cfg["stride"]))
        elif layer.kind == "AvgPool2D":
            modules.append(nn.AvgPool2d(cfg["size"], cfg["stride"]))
        else:
            modules.append({"ReLU": nn.ReLU, "Flatten": nn.Flatten, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh,
                            "Identity": nn.Identity}[layer.kind]())
        if layer.params:
            with torch.no_grad():
                modules[-1].weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["W"])))
                modules[-1].bias.copy_(torch.from_numpy(np.ascontiguousarray(layer.params["b"])))
    dtype = torch.float64 if model.dtype == np.float64 else torch.float32
    return nn.Sequential(*modules).to(dtype)
