"""A tour of the engine in the terminal: one digit through the pretrained LeNet-5, forward, backward, one update.

    python -m cnn.demo [--digit 0-9] [--target 0-9] [--lr 0.01]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from cnn.losses import softmax, softmax_cross_entropy
from cnn.optim import SGD
from cnn.pretrained import load_pretrained, load_samples

_SHADES = " .:-=+*#%@"


def ascii_digit(image: np.ndarray) -> str:
    """(28, 28) uint8 -> 14 lines of text, two pixel rows per line."""
    rows = image.reshape(14, 2, 28).max(axis=1)
    return "\n".join("".join(_SHADES[int(v) * (len(_SHADES) - 1) // 255] * 2 for v in row[2:26]) for row in rows)


def _stats(a: np.ndarray | None) -> str:
    return "" if a is None else f"{str(a.shape[1:]):>14}  min {a.min():+.4f}  max {a.max():+.4f}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cnn-demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--digit", type=int, choices=range(10), default=7, help="which sample digit to show")
    p.add_argument("--target", type=int, choices=range(10), default=None, help="label to learn (default: true)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate of the one SGD step")
    args = p.parse_args(argv)
    write = sys.stdout.write

    model = load_pretrained(dtype="float64")
    images, labels = load_samples()
    image, label = images[args.digit], int(labels[args.digit])
    target = label if args.target is None else args.target
    x = (image.astype(np.float64) / 255.0)[None, None]  # (1, 1, 28, 28)
    write(f"{ascii_digit(image)}\n\nA handwritten {label} from the MNIST test set, through LeNet-5.\n\nForward:\n")
    for entry in model.forward_steps(x):
        write(f"  {entry.index:>2} {entry.name:<9} {entry.kind:<9} out{_stats(entry.output)}\n")
    probs = softmax(model.trace[-1].output)[0]  # type: ignore[arg-type]
    write(f"\nPrediction: {probs.argmax()} ({probs.max():.2%}).  Probabilities: "
          + " ".join(f"{k}:{p:.3f}" for k, p in enumerate(probs)) + "\n")

    loss, dlogits = softmax_cross_entropy(model.trace[-1].output, [target])  # type: ignore[arg-type]
    write(f"\nBackward with target {target}: cross-entropy E = {loss:.6f}, δ of the last layer = p − y.\n")
    for entry in model.backward_steps(dlogits):
        grads = "  ".join(f"‖∂E/∂{k}‖ {np.linalg.norm(g):.2e}" for k, g in entry.param_grads.items())
        # Conv2D and Dense output the weighted input net, so what arrives there is δ = ∂E/∂net; elsewhere ∂E/∂out.
        what = "δ      " if entry.kind in ("Conv2D", "Dense") else "∂E/∂out"
        write(f"  {entry.index:>2} {entry.name:<9} {what}{_stats(entry.delta)}  {grads}\n")

    updates = SGD(lr=args.lr).step_recorded(model)
    biggest = max(updates, key=lambda k: float(np.abs(updates[k].delta).max()))
    write(f"\nOne SGD step, w ← w − {args.lr:g}·∂E/∂w: the largest change is in {biggest} "
          f"(max |Δ| {np.abs(updates[biggest].delta).max():.2e}).\n")
    new = softmax(model.forward(x))[0]
    write(f"p(target {target}) moved from {probs[target]:.6f} to {new[target]:.6f}.\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
