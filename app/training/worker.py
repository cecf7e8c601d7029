"""One training job, run in a process of its own (spawned: app.training.jobs starts it), reporting over a queue.

It imports the engine and numpy only, never the server. Every message it puts on `events` is a JSON-ready dict with
"job" (its id) and "type"; arrays travel in app.encoding's JSON form ({"shape", "dtype", "data": base64}):

    started      epochs, steps_per_epoch, total_steps, train_size, val_size, params, spec, probe {image (28, 28)
                 uint8, label}: the test digit whose feature maps the snapshots show
    progress     epoch, step, loss, accuracy (both over the steps since the last progress), lr,
                 examples_per_second, seconds_left                                         every PROGRESS_EVERY steps
    snapshot     epoch, step, kernels (conv1's weights (F, C, KH, KW), or null without a Conv2D layer),
                 feature_maps (conv1's output on the probe digit, before its activation (F, OH, OW)),
                 probabilities (10,) on the probe       at step 0, every `snapshot_every` steps (more apart in runs of
                                                        over MAX_SNAPSHOTS of them) and at the end
    validation   epoch, step, loss, accuracy                                                      after every epoch
    checkpoint   k, epoch, step       the weights are in checkpoint-<k>.npz (cnn.save_model format) in `out_dir`
    done         test_accuracy, confusion (10×10, rows true, columns predicted), misclassified [{index, label,
                 predicted}] (test-set indices, at most MAX_MISCLASSIFIED), misclassified_total, seconds
    stopped      reason                            (the stop event was set: the model so far is saved as model.npz)
    failed       error                              (the loss diverged, or anything else went wrong)

The server adds its own: running (a worker took the job), paused, resumed, and stopped {reason} for a job stopped
before it started or ended by force; a stopped message's reason is the server's when it has one (on request, the
wall-time limit, nobody watching).

`go` cleared pauses it between two steps; `stop` set ends it at the next step. Both are multiprocessing Events here,
or anything with `go.wait(timeout) -> bool` and `stop.is_set() -> bool` (app.training.rq_jobs reads them from Redis).
"""

from __future__ import annotations

import math
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.encoding import to_json
from cnn.allocator import keep_freed_memory
from cnn.augment import augment as augment_images
from cnn.data import load_mnist, to_inputs
from cnn.evaluate import predict
from cnn.losses import softmax, softmax_cross_entropy
from cnn.model import Sequential
from cnn.modelfile import save_model
from cnn.optim import SGD, Adam, Optimizer
from cnn.spec import build_model

VAL_SIZE = 2000  # training images held out for validation, never trained on
PROBE_INDEX = 0  # the test set's first digit (a 7): the probe whose feature maps are shown
PROGRESS_EVERY = 5  # steps between progress messages
CHECKPOINTS = 10  # checkpoints over a run, besides the random start and the end
MAX_MISCLASSIFIED = 1000
MAX_SNAPSHOTS = 200  # a long run spaces its snapshots out: each is tens of KB, and every one stays in the history


@dataclass(frozen=True)
class JobConfig:
    """What the worker needs; plain data, so it crosses to the spawned process as it is."""

    spec: dict[str, Any]  # normalised, dtype float32
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    optimizer: str  # "sgd" | "adam"
    train_size: int
    augment: bool
    seed: int
    data_dir: str
    out_dir: str
    snapshot_every: int = 25


class Stopped(Exception):
    """The stop event was set."""


def first_conv(model: Sequential) -> int | None:
    return next((i for i, layer in enumerate(model.layers) if layer.kind == "Conv2D"), None)


def run_job(job_id: str, config: JobConfig, events: Any, go: Any, stop: Any) -> None:
    """The process's target: train, reporting every step of the way; never raises (a failure is a message)."""
    from threadpoolctl import threadpool_limits

    def send(kind: str, **fields: Any) -> None:
        events.put({"job": job_id, "type": kind, **fields})

    keep_freed_memory()
    try:
        # One core per job: the server keeps the others. Overflow is not warned about: the loss is watched instead.
        with threadpool_limits(limits=1, user_api="blas"), np.errstate(over="ignore", invalid="ignore"):
            _train(config, send, go, stop)
    except Stopped as e:
        send("stopped", reason=str(e) or "stopped on request")
    except FloatingPointError as e:
        send("failed", error=str(e))
    except Exception as e:  # a failure the page must hear about, whatever it is
        send("failed", error=f"training failed: {type(e).__name__}: {e}", trace=traceback.format_exc(limit=5))


def _wait_if_paused(go: Any, stop: Any) -> None:
    """Between two steps: wait while paused; Stopped (with the stop's `reason`, if it gives one) once stopped."""
    while not go.wait(0.2):
        if stop.is_set():
            break
    if stop.is_set():
        raise Stopped(getattr(stop, "reason", ""))


def _train(config: JobConfig, send: Any, go: Any, stop: Any) -> None:
    started = time.perf_counter()
    rng = np.random.default_rng(config.seed)
    model = build_model(config.spec, rng)
    images, labels = load_mnist("train", config.data_dir)
    test_images, test_labels = load_mnist("test", config.data_dir)
    order = rng.permutation(len(images))
    val, train = order[-VAL_SIZE:], order[: config.train_size]
    base = images[train].astype(np.float32) / 255.0  # (N, 28, 28)
    train_labels = labels[train]
    val_x, val_y = to_inputs(images[val], model.dtype), labels[val]
    probe = to_inputs(test_images[PROBE_INDEX : PROBE_INDEX + 1], model.dtype)  # (1, 1, 28, 28)
    opt: Optimizer = (Adam(config.lr) if config.optimizer == "adam"
                      else SGD(config.lr, momentum=config.momentum))
    B = config.batch_size
    steps_per_epoch = len(base) // B  # the last partial batch is dropped: equal-sized steps
    total = steps_per_epoch * config.epochs
    conv = first_conv(model)
    out = Path(config.out_dir)
    checkpoint_every = max(1, total // CHECKPOINTS)
    snapshot_every = max(config.snapshot_every, total // MAX_SNAPSHOTS)
    params = sum(w.size for w in model.named_params().values())
    send("started", epochs=config.epochs, steps_per_epoch=steps_per_epoch, total_steps=total,
         train_size=len(base), val_size=VAL_SIZE, params=params, spec=model.spec(),
         probe={"image": to_json(test_images[PROBE_INDEX]), "label": int(test_labels[PROBE_INDEX])})
    checkpoints = 0

    def checkpoint(epoch: int, step: int) -> None:
        nonlocal checkpoints
        save_model(out / f"checkpoint-{checkpoints}.npz", model, metadata={"epoch": epoch, "step": step})
        send("checkpoint", k=checkpoints, epoch=epoch, step=step)
        checkpoints += 1

    def snapshot(epoch: int, step: int) -> None:
        probs = softmax(model.forward(probe))[0]  # evaluation mode; the trace holds every layer's output
        fields: dict[str, Any] = {"kernels": None, "feature_maps": None}
        if conv is not None:
            fields = {"kernels": to_json(model.layers[conv].params["W"]),
                      "feature_maps": to_json(model.trace[conv].output[0])}  # type: ignore[index]
        send("snapshot", epoch=epoch, step=step, probabilities=to_json(probs), **fields)

    snapshot(0, 0)
    checkpoint(0, 0)
    step = 0
    window_loss, window_correct, window_seen, window_start = 0.0, 0, 0, time.perf_counter()
    try:
        for epoch in range(1, config.epochs + 1):
            epoch_images = augment_images(base, rng) if config.augment else base
            perm = rng.permutation(len(epoch_images))
            for i in range(steps_per_epoch):
                _wait_if_paused(go, stop)
                idx = perm[i * B : (i + 1) * B]
                x = epoch_images[idx][:, None].astype(model.dtype, copy=False)  # (B, 1, 28, 28)
                y = train_labels[idx]
                logits = model.forward(x, train=True)
                loss, dlogits = softmax_cross_entropy(logits, y)
                if not math.isfinite(loss):
                    raise FloatingPointError(
                        f"training diverged at step {step + 1} (epoch {epoch}): the loss is {loss}. The learning "
                        f"rate {config.lr:g} is too large for this network: try a smaller one")
                model.backward_params(dlogits)
                opt.step(model)
                step += 1
                window_loss += loss * B
                window_correct += int((logits.argmax(axis=1) == y).sum())
                window_seen += B
                if step % PROGRESS_EVERY == 0 or i == steps_per_epoch - 1:
                    now = time.perf_counter()
                    rate = window_seen / max(now - window_start, 1e-9)
                    send("progress", epoch=epoch, step=step, loss=window_loss / window_seen,
                         accuracy=window_correct / window_seen, lr=opt.lr, examples_per_second=rate,
                         seconds_left=(total - step) * B / rate)
                    window_loss, window_correct, window_seen, window_start = 0.0, 0, 0, now
                if step % snapshot_every == 0:
                    snapshot(epoch, step)
                if step % checkpoint_every == 0 and step < total:
                    checkpoint(epoch, step)
            val_probs = predict(model, val_x)
            picked = val_probs[np.arange(len(val_y)), val_y].astype(np.float64)  # float32 would round 1e-300 to 0
            val_loss = float(-np.log(np.maximum(picked, 1e-300)).mean())
            send("validation", epoch=epoch, step=step, loss=val_loss,
                 accuracy=float((val_probs.argmax(axis=1) == val_y).mean()))
    except Stopped as e:
        save_model(out / "model.npz", model, metadata={"step": step, "stopped": True})
        checkpoint(epoch, step)
        raise Stopped(str(e)) from None
    if step % snapshot_every:
        snapshot(config.epochs, step)
    checkpoint(config.epochs, step)
    save_model(out / "model.npz", model, metadata={"step": step})
    probs = predict(model, to_inputs(test_images, model.dtype))
    predicted = probs.argmax(axis=1)
    confusion = np.zeros((10, 10), dtype=np.int64)
    np.add.at(confusion, (test_labels.astype(np.intp), predicted), 1)
    wrong = np.flatnonzero(predicted != test_labels)
    send("done", test_accuracy=float((predicted == test_labels).mean()), confusion=confusion.tolist(),
         misclassified=[{"index": int(i), "label": int(test_labels[i]), "predicted": int(predicted[i])}
                        for i in wrong[:MAX_MISCLASSIFIED]],
         misclassified_total=int(len(wrong)), seconds=time.perf_counter() - started)
