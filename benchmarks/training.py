"""Training throughput of LeNet-5 at batch 64 in float32: the numpy engine beside PyTorch on the same threads.

    python -m benchmarks.training [--steps 200] [--repeats 5]

Times plain training steps (forward, cross-entropy, backward, SGD with momentum) on random MNIST-shaped data, in
alternating rounds, and reports examples per second and the implied time for an epoch of 60,000 images.
Targets (issue 3): an epoch in under 60 s here, and at most 1.5× PyTorch's time per epoch. Augmentation, which
`cnn.train` adds on top, is timed separately.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import median_ms, time_alternating, torch_available
from benchmarks.engine import numpy_runners, torch_runners
from cnn.allocator import keep_freed_memory
from cnn.augment import augment

EPOCH = 60_000
BATCH = 64


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="training steps per round")
    parser.add_argument("--repeats", type=int, default=5, help="alternating rounds (median taken)")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as cnn.train runs

    rng = np.random.default_rng(0)
    model, x, y, _, np_train = numpy_runners("float32", BATCH, rng)
    runners = {"numpy": np_train}
    if torch_available():
        import torch

        runners["torch"] = torch_runners(model, x, y)[1]
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    else:
        print("PyTorch not installed: numpy figures only (pip install '.[bench]')")
    times = time_alternating(runners, args.repeats, args.steps)

    images = rng.random((EPOCH // 10, 28, 28)).astype(np.float32)
    start = time.perf_counter()
    augment(images, rng)
    augment_epoch_s = (time.perf_counter() - start) * 10

    print(f"{'engine':<8}{'ms/step':>10}{'images/s':>12}{'epoch s':>10}")
    per_epoch = {}
    for name, samples in times.items():
        ms = median_ms(samples)
        per_epoch[name] = ms / 1e3 * EPOCH / BATCH
        print(f"{name:<8}{ms:>10.3f}{BATCH / ms * 1e3:>12,.0f}{per_epoch[name]:>10.1f}")
    print(f"augmentation of 60,000 images (numpy, once per epoch in cnn.train): {augment_epoch_s:.1f} s")
    total = per_epoch["numpy"] + augment_epoch_s
    print(f"numpy epoch with augmentation: {total:.1f} s (target < 60 s: {'met' if total < 60 else 'NOT met'})")
    if "torch" in per_epoch:
        ratio = per_epoch["numpy"] / per_epoch["torch"]
        print(f"time per epoch, numpy / torch: {ratio:.2f} (target ≤ 1.5: {'met' if ratio <= 1.5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
