"""Score a saved model on the MNIST test set: accuracy, the confusion matrix, the most confidently wrong digits.

    python -m cnn.evaluate [MODEL] [--data DIR] [--json]          (or the console script `cnn-evaluate`)

MODEL defaults to the pretrained model shipped with the package.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cnn.allocator import keep_freed_memory
from cnn.data import DataError, load_mnist, to_inputs
from cnn.errors import ModelFileError
from cnn.losses import softmax
from cnn.model import Sequential
from cnn.modelfile import load_model
from cnn.pretrained import PRETRAINED_PATH


def predict(model: Sequential, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """x (N, C, H, W) -> class probabilities (N, K), in evaluation mode, a batch at a time."""
    return np.concatenate([softmax(model.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])


@dataclass
class Mistake:
    index: int
    label: int
    predicted: int
    confidence: float


@dataclass
class Evaluation:
    accuracy: float
    correct: int
    total: int
    confusion: list[list[int]]  # rows: true label, columns: predicted label
    most_confident_mistakes: list[Mistake]


def evaluate(model: Sequential, images: np.ndarray, labels: np.ndarray, top: int = 10) -> Evaluation:
    probs = predict(model, to_inputs(images, model.dtype))
    predicted = probs.argmax(axis=1)
    K = probs.shape[1]
    confusion = np.zeros((K, K), dtype=np.int64)
    np.add.at(confusion, (labels.astype(np.intp), predicted), 1)
    wrong = np.flatnonzero(predicted != labels)
    worst = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:top]
    mistakes = [Mistake(int(i), int(labels[i]), int(predicted[i]), float(probs[i, predicted[i]])) for i in worst]
    correct = int((predicted == labels).sum())
    return Evaluation(correct / len(labels), correct, len(labels), confusion.tolist(), mistakes)


def format_report(ev: Evaluation) -> str:
    lines = [f"test accuracy: {ev.accuracy:.4%} ({ev.correct:,} of {ev.total:,})", "",
             "confusion matrix (rows: true digit, columns: predicted)",
             "      " + "".join(f"{k:>6}" for k in range(len(ev.confusion)))]
    lines += [f"{t:>6}" + "".join(f"{n:>6}" for n in row) for t, row in enumerate(ev.confusion)]
    lines += ["", "most confidently wrong (test index: true → predicted, confidence)"]
    lines += [f"  #{m.index:<6} {m.label} → {m.predicted}  {m.confidence:.3f}" for m in ev.most_confident_mistakes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="cnn-evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", default=str(PRETRAINED_PATH), help="a model .npz (default: the pretrained one)")
    p.add_argument("--data", default=None, help="folder with the MNIST files (else $CNN_DATA_DIR, else the cache)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--top", type=int, default=10, help="how many confident mistakes to list")
    args = p.parse_args(argv)
    keep_freed_memory()
    try:
        model = load_model(Path(args.model))
        images, labels = load_mnist("test", args.data)
    except (ModelFileError, DataError) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2
    if model.input_shape != images.shape[1:] and model.input_shape != (1, *images.shape[1:]):
        sys.stderr.write(f"error: {args.model}: the model reads {model.input_shape}, MNIST digits are (1, 28, 28)\n")
        return 2
    if model.output_shape != (10,):
        sys.stderr.write(f"error: {args.model}: the model gives {model.output_shape} outputs, MNIST has 10 classes\n")
        return 2
    ev = evaluate(model, images, labels, args.top)
    sys.stdout.write((json.dumps(asdict(ev), indent=2) if args.json else format_report(ev)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
