"""The training lab against `cnn-train`, and a learner's forward while a job runs, in one run:

    python -m benchmarks.lab [--data DIR] [--train-size 58000]

1. `cnn-train` (a subprocess, one BLAS thread) trains LeNet-5 for one epoch: float32, batch 64, SGD lr 0.05 with
   momentum 0.9, a constant rate, no augmentation, 2,000 images held out for validation, so 58,000 trained on: the
   lab's settings. Its wall time, from start to exit, includes loading MNIST and scoring the test set.
2. The server (uvicorn on a free port of 127.0.0.1) runs the same job from POST /api/train to its `done` message,
   which also loads MNIST in the job's own process and scores the test set (the confusion matrix). Meanwhile one
   learner sends a forward (the page's own 28×28 input) every 100 ms; its latencies are compared with the same
   learner's on the idle server just before.

Targets: the lab within 1.3× of cnn-train's time; the learner's forward p95 ≤ 100 ms while the job runs. On a 2-core
machine the job takes one core and the server, the learner and this script share the other.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.server import ROOT, Server, free_port, percentile_ms
from cnn.data import resolve_data_dir
from cnn.pretrained import load_samples

TRAIN = {"epochs": 1, "batch_size": 64, "lr": 0.05, "momentum": 0.9, "optimizer": "sgd", "augment": False, "seed": 0}
TARGET_RATIO, TARGET_P95_MS = 1.3, 100.0


def time_cnn_train(data: Path, train_size: int) -> float:
    out = Path(tempfile.mkdtemp()) / "lenet5.npz"
    cmd = [sys.executable, "-m", "cnn.train", "--spec", "lenet5", "--epochs", "1", "--batch-size", "64",
           "--lr", "0.05", "--momentum", "0.9", "--schedule", "constant", "--no-augment", "--dtype", "float32",
           "--val-size", "2000", "--seed", "0", "--out", str(out), "--data", str(data)]
    if train_size < 58_000:
        cmd += ["--limit", str(train_size)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}  # as the lab's job process has
    start = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - start


def page_input() -> dict[str, object]:
    images, _ = load_samples()
    data = base64.b64encode((images[3] / 255.0).astype("<f4").tobytes()).decode()
    return {"input": {"shape": [28, 28], "dtype": "float32", "data": data}}


async def forwards(client: httpx.AsyncClient, until: asyncio.Event | float) -> list[float]:
    """One learner's forwards every 100 ms until the deadline (a float) or the event, with their latencies."""
    latencies, body = [], page_input()
    while not (until.is_set() if isinstance(until, asyncio.Event) else time.monotonic() > until):
        start = time.perf_counter()
        response = await client.post("/api/forward", json=body)
        latencies.append(time.perf_counter() - start)
        response.raise_for_status()
        await asyncio.sleep(0.1)
    return latencies


async def time_lab(server: Server, train_size: int) -> tuple[float, list[float], list[float], float | None]:
    """(the job's seconds, the learner's latencies idle, and while the job ran, its test accuracy)."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, trust_env=False,
                                 headers={"X-Tab-Id": "learner"}) as learner, \
            httpx.AsyncClient(base_url=server.base_url, timeout=30, trust_env=False,
                              headers={"X-Tab-Id": "trainer"}) as trainer:
        await learner.get("/")
        await trainer.get("/")
        idle = await forwards(learner, time.monotonic() + 5.0)
        done = asyncio.Event()
        busy_task = asyncio.create_task(forwards(learner, done))
        start = time.monotonic()
        answer = await trainer.post("/api/train", json={"spec": "lenet5", "train_size": train_size, **TRAIN})
        if answer.status_code != 202:
            raise RuntimeError(f"POST /api/train -> {answer.status_code}: {answer.text}")
        job = answer.json()["id"]
        while True:
            status = (await trainer.get(f"/api/train/{job}", params={"since": 10**9})).json()
            if status["state"] in ("done", "failed", "stopped"):
                break
            await asyncio.sleep(0.2)
        seconds = time.monotonic() - start
        done.set()
        busy = await busy_task
        if status["state"] != "done":
            raise RuntimeError(f"the job ended {status['state']}: {status.get('error')}")
        return seconds, idle, busy, status.get("test_accuracy")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="the MNIST folder (default: $CNN_DATA_DIR, else the cache)")
    parser.add_argument("--train-size", type=int, default=58_000, help="images trained on (default 58,000)")
    args = parser.parse_args(argv)
    data = resolve_data_dir(args.data)
    print(f"LeNet-5, one epoch of {args.train_size:,} images, float32, batch 64, one BLAS thread; {os.cpu_count()} "
          "cores")
    reference = time_cnn_train(data, args.train_size)
    server = Server(free_port(), settings={"data_dir": str(data), "train_max_seconds": "3600"})
    try:
        server.wait_healthy()
        lab, idle, busy, accuracy = asyncio.run(time_lab(server, args.train_size))
    finally:
        server.stop()
    ratio = lab / reference
    print(f"{'':<34}{'seconds':>9}{'images/s':>10}")
    print(f"{'cnn-train (start to exit)':<34}{reference:>9.1f}{args.train_size / reference:>10.0f}")
    print(f"{'lab job (POST to done)':<34}{lab:>9.1f}{args.train_size / lab:>10.0f}")
    print(f"lab / cnn-train: {ratio:.2f} (target ≤ {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'MISSED'}); "
          f"the lab's test accuracy {accuracy}")
    print(f"{'learner forward, every 100 ms':<34}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for name, latencies in (("idle server", idle), ("while the job runs", busy)):
        print(f"{name:<34}{len(latencies):>5}{percentile_ms(latencies, 50):>9.1f}{percentile_ms(latencies, 95):>9.1f}"
              f"{max(latencies) * 1e3:>9.1f}")
    p95 = percentile_ms(busy, 95)
    print(f"forward p95 while the job runs: {p95:.1f} ms (target ≤ {TARGET_P95_MS:.0f}: "
          f"{'met' if p95 <= TARGET_P95_MS else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
