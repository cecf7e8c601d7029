"""Forward + backward of LeNet-5 in the numpy engine, beside the same network in PyTorch on the same threads.

    python -m benchmarks.engine [--repeats 15]

Two workloads, timed in alternation and reported as medians and ratios (numpy time / PyTorch time):
  * batch 1, float64 and float32: forward, softmax cross-entropy, backward down to the input (the saliency map):
    what the visualizer does for one drawn digit.
  * batch 64, float32 and float64: one training step (forward, loss, backward, SGD update).
Targets (issue 2): batch 1 in float32 ≤ 0.5× PyTorch's time; batch-64 training step ≤ 1.5× PyTorch's time. Batch 1
in float64 has no target any more (issue 9: the engine is not where the server's time goes); its ratio is printed.

A last row times only the matrix products of the batch-1 float64 pass (the same BLAS calls on the same arrays,
nothing else): a floor no arrangement of numpy calls goes below, set beside PyTorch's whole pass.
"""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import median_ms, time_alternating, torch_available, torch_twin
from cnn import SGD, build_model, lenet5, softmax_cross_entropy
from cnn.allocator import keep_freed_memory


def numpy_runners(dtype: str, batch: int, rng: np.random.Generator):
    model = build_model(lenet5(dtype), rng)
    x = rng.random((batch, 1, 28, 28)).astype(dtype)
    y = rng.integers(0, 10, batch)
    opt = SGD(lr=0.01, momentum=0.9)

    def visualize() -> None:
        _, dlogits = softmax_cross_entropy(model.forward(x), y)
        model.backward(dlogits)

    def train_step() -> None:
        _, dlogits = softmax_cross_entropy(model.forward(x, train=True), y)
        model.backward_params(dlogits)
        opt.step(model)

    return model, x, y, visualize, train_step


def matrix_products_of_a_pass(model):
    """The BLAS calls of one forward and backward pass of `model` at batch 1, on the arrays its last pass left in
    the layers and the trace: per Conv2D W·cols, δ·colsᵀ and Wᵀ·δ; per Dense x·Wᵀ, δᵀ·x and δ·W."""
    calls: list[tuple[Callable[..., Any], Any, Any]] = []
    for layer, entry in zip(model.layers, model.trace, strict=True):
        if layer.kind == "Conv2D":
            W = layer.params["W"].reshape(layer.params["W"].shape[0], -1)
            cols = layer.cache["cols"]
            delta = entry.delta.transpose(1, 0, 2, 3).reshape(W.shape[0], -1)
            calls += [(np.matmul, W, cols), (np.matmul, delta, cols.T), (np.matmul, W.T, delta)]
        elif layer.kind == "Dense":
            W, x, delta = layer.params["W"], entry.input, entry.delta
            calls += [(np.matmul, x, W.T), (np.multiply, delta.T, x), (np.matmul, delta, W)]

    def run() -> None:
        for op, a, b in calls:
            op(a, b)

    return run


def torch_runners(model, x_np, y_np):
    import torch

    net = torch_twin(model)
    x = torch.from_numpy(x_np)
    y = torch.from_numpy(y_np)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def visualize() -> None:
        xg = x.clone().requires_grad_(True)
        net.zero_grad(set_to_none=True)
        loss_fn(net(xg), y).backward()

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()

    return visualize, train_step


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=15, help="alternating rounds per workload (median taken)")
    args = parser.parse_args(argv)
    kept = keep_freed_memory()
    allocator = "malloc keeps freed memory (cnn.allocator, as the server and trainer)" if kept else "default malloc"

    have_torch = torch_available()
    threads = "?"
    if have_torch:
        import torch

        threads = str(torch.get_num_threads())
    print(f"numpy {np.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          + (f"torch {torch.__version__} with {threads} threads" if have_torch else "PyTorch not installed")
          + f"; {allocator}")
    print(f"{'workload':<34}{'numpy ms':>10}{'torch ms':>10}{'ratio':>8}  target")
    rng = np.random.default_rng(0)
    for label, dtype, batch, kind, target in [
        ("batch 1 fwd+bwd float64", "float64", 1, "visualize", None),
        ("batch 1 fwd+bwd float32", "float32", 1, "visualize", 0.5),
        ("batch 64 train step float32", "float32", 64, "train", 1.5),
        ("batch 64 train step float64", "float64", 64, "train", 1.5),
    ]:
        model, x, y, np_vis, np_train = numpy_runners(dtype, batch, rng)
        runners = {"numpy": np_vis if kind == "visualize" else np_train}
        if have_torch:
            t_vis, t_train = torch_runners(model, x, y)
            runners["torch"] = t_vis if kind == "visualize" else t_train
        inner = 50 if batch == 1 else 5
        times = time_alternating(runners, args.repeats, inner)
        np_ms = median_ms(times["numpy"])
        if have_torch:
            t_ms = median_ms(times["torch"])
            ratio = np_ms / t_ms
            verdict = "" if target is None else f"≤ {target} ({'met' if ratio <= target else 'NOT met'})"
            print(f"{label:<34}{np_ms:>10.3f}{t_ms:>10.3f}{ratio:>8.2f}  {verdict}")
        else:
            verdict = "" if target is None else f"≤ {target} (no reference)"
            print(f"{label:<34}{np_ms:>10.3f}{'-':>10}{'-':>8}  {verdict}")
        if dtype == "float64" and kind == "visualize":
            np_vis()  # leaves the arrays the floor reuses
            floor_runners = {"numpy": matrix_products_of_a_pass(model)} | (
                {"torch": runners["torch"]} if have_torch else {}
            )
            floor_times = time_alternating(floor_runners, args.repeats, inner)
            floor = median_ms(floor_times["numpy"])
            label = "  its matrix products alone"
            if have_torch:
                t_ms = median_ms(floor_times["torch"])
                print(f"{label:<34}{floor:>10.3f}{t_ms:>10.3f}{floor / t_ms:>8.2f}  (a floor, not a workload)")
            else:
                print(f"{label:<34}{floor:>10.3f}{'-':>10}{'-':>8}  (a floor, not a workload)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
