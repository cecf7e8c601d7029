"""Train a network on MNIST with SGD and save it with its per-epoch metrics.

    python -m cnn.train --epochs 20 --out runs/lenet5.npz         (or the console script `cnn-train`)

A progress bar per epoch shows loss, accuracy, examples per second and time left. After every epoch the model is
scored on the validation split and the test set. Deterministic for a given --seed. Ctrl-C saves the last completed
epoch. A loss that turns NaN or infinite stops the run with a message naming the epoch and the learning rate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from cnn.allocator import keep_freed_memory
from cnn.architectures import SPECS
from cnn.augment import augment
from cnn.data import DataError, load_mnist, to_inputs
from cnn.errors import ShapeError, SpecError
from cnn.evaluate import predict
from cnn.losses import softmax_cross_entropy
from cnn.model import Sequential
from cnn.modelfile import save_model
from cnn.optim import SGD
from cnn.spec import build_model


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite: the learning rate is too large for this network."""


@dataclass
class TrainConfig:
    spec: str = "lenet5"
    epochs: int = 20
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    schedule: str = "cosine"
    seed: int = 0
    val_size: int = 5000
    augment: bool = True
    dtype: str = "float32"
    limit: int | None = None
    out: str = "runs/model.npz"
    data: str | None = None


@dataclass
class EpochMetrics:
    epoch: int
    lr: float
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None
    test_accuracy: float
    seconds: float
    examples_per_second: float


@dataclass
class TrainResult:
    model: Sequential
    history: list[EpochMetrics] = field(default_factory=list)
    interrupted: bool = False


def load_spec(name_or_path: str, dtype: str) -> dict[str, Any]:
    """A named spec (lenet5, vgg16) or a JSON spec file; the dtype option overrides the file's."""
    if name_or_path in SPECS:
        return SPECS[name_or_path](dtype)
    path = Path(name_or_path)
    if not path.is_file():
        raise SpecError(f"--spec {name_or_path!r} is neither a known spec ({', '.join(SPECS)}) nor a JSON file")
    try:
        spec = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SpecError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(spec, dict):
        raise SpecError(f"{path}: a spec is a JSON object with input_shape and layers")
    return {**spec, "dtype": dtype}


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """Cosine decay from lr to 0 over the run, after a short linear warm-up (the first 2 % of steps)."""
    if config.schedule == "constant":
        return config.lr
    warmup = max(1, total_steps // 50)
    if step < warmup:
        return config.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * progress))


def _split(config: TrainConfig, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    images, labels = load_mnist("train", config.data)
    test_images, test_labels = load_mnist("test", config.data)
    order = rng.permutation(len(images))
    if config.limit:
        order = order[: config.limit]
    val = order[: config.val_size] if config.val_size else order[:0]
    train = order[config.val_size :]
    if len(train) < config.batch_size:
        raise ValueError(
            f"--val-size {config.val_size} leaves {len(train)} of {len(order)} images for training, fewer than one "
            f"batch of {config.batch_size}: lower --val-size or raise --limit"
        )
    return {
        "train": (images[train], labels[train]),
        "val": (images[val], labels[val]),
        "test": (test_images, test_labels),
    }


def train(config: TrainConfig, log: Any = sys.stderr) -> TrainResult:
    """Run the training loop; returns the model (after the last completed epoch) and the per-epoch metrics."""
    rng = np.random.default_rng(config.seed)
    model = build_model(load_spec(config.spec, config.dtype), rng)
    data = _split(config, rng)
    train_images, train_labels = data["train"]
    base = train_images.astype(np.float32) / 255.0  # (N, 28, 28)
    opt = SGD(config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    steps_per_epoch = len(base) // config.batch_size  # the last partial batch is dropped: equal-sized steps
    total_steps = steps_per_epoch * config.epochs
    result = TrainResult(model)
    saved = {k: v.copy() for k, v in model.named_params().items()}
    try:
        for epoch in range(1, config.epochs + 1):
            result.history.append(_epoch(config, model, opt, base, train_labels, data, rng, epoch, total_steps, log))
            saved = {k: v.copy() for k, v in model.named_params().items()}
    except KeyboardInterrupt:
        model.load_params(saved)  # back to the end of the last completed epoch
        result.interrupted = True
    return result


def _epoch(
    config: TrainConfig,
    model: Sequential,
    opt: SGD,
    base: np.ndarray,
    labels: np.ndarray,
    data: dict[str, tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    epoch: int,
    total_steps: int,
    log: Any,
) -> EpochMetrics:
    start = time.perf_counter()
    images = augment(base, rng) if config.augment else base
    order = rng.permutation(len(images))
    B = config.batch_size
    steps = len(images) // B
    loss_sum, correct, seen = 0.0, 0, 0
    bar = tqdm(total=steps * B, desc=f"epoch {epoch}/{config.epochs}", unit="img", unit_scale=True, file=log,
               dynamic_ncols=True, mininterval=0.5)
    with bar:
        for i in range(steps):
            idx = order[i * B : (i + 1) * B]
            x = images[idx][:, None].astype(model.dtype, copy=False)  # (B, 1, 28, 28)
            y = labels[idx]
            opt.lr = learning_rate(config, (epoch - 1) * steps + i, total_steps)
            logits = model.forward(x, train=True)
            loss, dlogits = softmax_cross_entropy(logits, y)
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"training diverged in epoch {epoch} (loss {loss}) at learning rate {opt.lr:g}; "
                    f"try a smaller --lr than {config.lr:g}"
                )
            model.backward_params(dlogits)  # no ∂E/∂input: nobody reads it in training
            opt.step(model)
            loss_sum += loss * B
            correct += int((logits.argmax(axis=1) == y).sum())
            seen += B
            bar.update(B)
            if i % 20 == 0:
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}", lr=f"{opt.lr:.4f}")
    seconds = time.perf_counter() - start
    val_acc = _accuracy(model, *data["val"]) if len(data["val"][0]) else None
    test_acc = _accuracy(model, *data["test"])
    metrics = EpochMetrics(epoch, opt.lr, loss_sum / seen, correct / seen, val_acc, test_acc, seconds, seen / seconds)
    val_text = f"val {val_acc:.4f}  " if val_acc is not None else ""
    log.write(f"epoch {epoch}: loss {metrics.train_loss:.4f}  train {metrics.train_accuracy:.4f}  {val_text}"
              f"test {test_acc:.4f}  ({seconds:.1f} s, {metrics.examples_per_second:,.0f} img/s)\n")
    return metrics


def _accuracy(model: Sequential, images: np.ndarray, labels: np.ndarray) -> float:
    return float((predict(model, to_inputs(images, model.dtype)).argmax(axis=1) == labels).mean())


def save_run(result: TrainResult, config: TrainConfig, command: str, started: float) -> tuple[Path, Path]:
    """Write the model and, beside it, <name>.metrics.json with the config, the command and every epoch."""
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    history = [asdict(m) for m in result.history]
    summary = {
        "command": command,
        "config": asdict(config),
        "epochs_completed": len(history),
        "interrupted": result.interrupted,
        "training_seconds": round(time.perf_counter() - started, 1),
        "test_accuracy": history[-1]["test_accuracy"] if history else None,
        "history": history,
    }
    save_model(out, result.model, metadata={k: v for k, v in summary.items() if k != "history"})
    metrics_path = out.with_suffix(".metrics.json")
    metrics_path.write_text(json.dumps(summary, indent=2) + "\n")
    return out, metrics_path


def parse_args(argv: list[str] | None) -> TrainConfig:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="cnn-train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spec", default=d.spec, help=f"a named spec ({', '.join(SPECS)}) or a JSON spec file")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate")
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--schedule", choices=["cosine", "constant"], default=d.schedule)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--val-size", type=int, default=d.val_size,
                   help="training images held out for validation (0 trains on all 60,000)")
    p.add_argument("--no-augment", dest="augment", action="store_false", help="train on the images as they are")
    p.add_argument("--dtype", choices=["float32", "float64"], default=d.dtype)
    p.add_argument("--limit", type=int, default=None, help="use only this many training images (quick runs)")
    p.add_argument("--out", default=d.out, help="where to save the model (.npz); metrics go beside it")
    p.add_argument("--data", default=None, help="folder with the MNIST files (else $CNN_DATA_DIR, else the cache)")
    args = p.parse_args(argv)
    config = TrainConfig(**vars(args))
    for name in ("epochs", "batch_size"):
        if getattr(config, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if config.val_size < 0:
        p.error("--val-size must be 0 or more")
    if config.limit is not None and config.limit < 1:
        p.error("--limit must be at least 1")
    return config


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    keep_freed_memory()  # no page faults between steps: see cnn.allocator
    command = "python -m cnn.train " + " ".join(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    try:
        result = train(config)
    except (DataError, SpecError, ShapeError, ValueError, TrainingDiverged) as e:
        sys.stderr.write(f"error: {e}\n")
        return 2 if not isinstance(e, TrainingDiverged) else 1
    if not result.history:
        sys.stderr.write("interrupted before the first epoch finished: nothing saved\n")
        return 130
    model_path, metrics_path = save_run(result, config, command, started)
    status = "interrupted; saved the last completed epoch" if result.interrupted else "done"
    sys.stderr.write(f"{status}: {model_path} (test accuracy {result.history[-1].test_accuracy:.4f}), "
                     f"metrics in {metrics_path}\n")
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    raise SystemExit(main())
