"""Forward + backward of LeNet-5 in the numpy engine, beside the same network in PyTorch on the same threads.

    python -m benchmarks.engine [--repeats 15]

Two workloads, timed in alternation and reported as medians and ratios (numpy time / PyTorch time):
  * batch 1, float64 and float32: forward, softmax cross-entropy, backward down to the input (the saliency map):
    what the visualizer does for one drawn digit.
  * batch 64, float32 and float64: one training step (forward, loss, backward, SGD update).
Targets (issue 2): batch 1 ≤ 0.5× PyTorch's time; batch-64 training step ≤ 1.5× PyTorch's time.
"""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from benchmarks.common import median_ms, time_alternating, torch_available, torch_twin
from cnn import SGD, build_model, lenet5, softmax_cross_entropy


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
        model.backward(dlogits, input_grad=False)
        opt.step(model, record=False)

    return model, x, y, visualize, train_step


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

    have_torch = torch_available()
    threads = "?"
    if have_torch:
        import torch

        threads = str(torch.get_num_threads())
    print(f"numpy {np.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          + (f"torch {torch.__version__} with {threads} threads" if have_torch else "PyTorch not installed"))
    print(f"{'workload':<34}{'numpy ms':>10}{'torch ms':>10}{'ratio':>8}  target")
    rng = np.random.default_rng(0)
    for label, dtype, batch, kind, target in [
        ("batch 1 fwd+bwd float64", "float64", 1, "visualize", 0.5),
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
            verdict = "met" if ratio <= target else "NOT met"
            print(f"{label:<34}{np_ms:>10.3f}{t_ms:>10.3f}{ratio:>8.2f}  ≤ {target} ({verdict})")
        else:
            print(f"{label:<34}{np_ms:>10.3f}{'-':>10}{'-':>8}  ≤ {target} (no reference)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
