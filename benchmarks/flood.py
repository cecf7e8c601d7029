"""Fairness under a flood: one learner's cycles and /healthz while many clients loop on POST /api/gradcheck.

    python -m benchmarks.flood [--duration 20] [--flooders 40] [--samples 64] [--app-dir DIR]

It starts its own server (benchmarks.server.Server on a free port of 127.0.0.1), then for --duration seconds runs:
- the flood, in a process of its own: --flooders clients, each its own session (cookie jar and X-Tab-Id), each doing
  one forward and one backward, then POST /api/gradcheck (--samples sampled weights, 64 being the most a request may
  ask) in a loop until the duration is over. A refused check (503 or 429) is counted and retried after 0.1 s, sooner
  than the Retry-After the server asks for: a flood does not wait politely;
- one learner, in this process: cycles of forward (the page's own 28×28 input, JSON, as benchmarks.corridor sends it)
  → backward → step, a pause of 0.2 s between cycles, as a person clicks; each cycle's time and every failed request;
- a prober, in this process: GET /healthz every 0.1 s, its latency.
The learner and the prober run on threads of this process, the flood in another process, so that neither waits for
the other's event loop; all of them share the server's 2 cores, so the figures are upper bounds.

It prints the learner's cycle p50/p95/max and its errors, /healthz p50/p95/max, and how many gradchecks were served and
refused (503, 429). Targets: every learner cycle succeeds, p95 < 1 s; /healthz < 0.5 s. --app-dir runs the server of
another checkout (a `git worktree` of an older commit), to compare versions with the same client.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.corridor import input_body
from benchmarks.server import ROOT, Server, free_port, percentile_ms
from cnn.pretrained import load_samples

TARGET_CYCLE_P95_S, TARGET_HEALTHZ_S = 1.0, 0.5
LR = 0.01
TIMEOUT = 30.0


@dataclass
class Learner:
    cycles: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def learner(base_url: str, deadline: float, result: Learner) -> None:
    """Cycles of forward → backward → step with a person's pause between them, until the deadline."""
    images, labels = load_samples()
    bodies = [(input_body(image), int(label)) for image, label in zip(images, labels, strict=True)]
    headers = {"X-Tab-Id": secrets.token_urlsafe(12)}
    with httpx.Client(base_url=base_url, headers=headers, timeout=TIMEOUT, trust_env=False) as client:
        client.get("/")
        i = 0
        while time.monotonic() < deadline:
            body, label = bodies[i % len(bodies)]
            i += 1
            start = time.perf_counter()
            try:
                for path, payload in (("/api/forward", body), ("/api/backward", {"target": label}),
                                      ("/api/step", {"lr": LR})):
                    r = client.post(path, json=payload)
                    if r.status_code != 200:
                        result.errors.append(f"{path}: {r.status_code} {r.text[:120]}")
                        break
                else:
                    result.cycles.append(time.perf_counter() - start)
            except httpx.HTTPError as e:
                result.errors.append(f"{type(e).__name__}: {e}")
            time.sleep(0.2)


def prober(base_url: str, deadline: float, latencies: list[float], errors: list[str]) -> None:
    """GET /healthz every 0.1 s until the deadline."""
    with httpx.Client(base_url=base_url, timeout=TIMEOUT, trust_env=False) as client:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                r = client.get("/healthz")
                latencies.append(time.perf_counter() - start)
                if r.status_code != 200:
                    errors.append(f"/healthz: {r.status_code}")
            except httpx.HTTPError as e:
                errors.append(f"/healthz {type(e).__name__}")
            time.sleep(0.1)


async def flooder(base_url: str, samples: int, deadline: float, counts: Counter[str]) -> None:
    """One session: a forward and a backward, then gradchecks in a loop until the deadline."""
    images, labels = load_samples()
    headers = {"X-Tab-Id": secrets.token_urlsafe(12)}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=TIMEOUT, trust_env=False) as client:
        await client.get("/")
        await client.post("/api/forward", json=input_body(images[0]))
        await client.post("/api/backward", json={"target": int(labels[0])})
        seed = 0
        while time.monotonic() < deadline:
            seed += 1
            try:
                r = await client.post("/api/gradcheck", json={"param": "conv2.W", "samples": samples, "seed": seed})
            except httpx.HTTPError as e:
                counts[type(e).__name__] += 1
                continue
            counts[str(r.status_code)] += 1
            if r.status_code != 200:
                await asyncio.sleep(0.1)


def flood(base_url: str, flooders: int, samples: int, deadline_in: float, out: multiprocessing.Queue[Counter[str]]
          ) -> None:
    """The flood process: every flooder on one event loop, their counts of answers sent back when all have stopped."""
    counts: Counter[str] = Counter()

    async def run() -> None:
        deadline = time.monotonic() + deadline_in
        await asyncio.gather(*(flooder(base_url, samples, deadline, counts) for _ in range(flooders)))

    asyncio.run(run())
    out.put(counts)


def run(app_dir: Path, duration: float, flooders: int, samples: int) -> None:
    server = Server(free_port(), max_sessions=flooders + 10, root=app_dir)
    try:
        server.wait_healthy()
        queue: multiprocessing.Queue[Counter[str]] = multiprocessing.Queue()
        proc = multiprocessing.Process(target=flood, args=(server.base_url, flooders, samples, duration + 2, queue))
        proc.start()
        time.sleep(2)  # the flooders' forward and backward, before the learner starts
        deadline = time.monotonic() + duration
        result, health, health_errors = Learner(), [], []  # type: ignore[var-annotated]
        threads = [threading.Thread(target=learner, args=(server.base_url, deadline, result)),
                   threading.Thread(target=prober, args=(server.base_url, deadline, health, health_errors))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = queue.get(timeout=TIMEOUT + 10)
        proc.join(timeout=10)
    finally:
        server.stop()

    print(f"server from {app_dir}: {flooders} clients looping on gradcheck ({samples} samples) for {duration:.0f} s")
    print(f"  learner cycles: {len(result.cycles)} ok, {len(result.errors)} failed; "
          f"p50 {percentile_ms(result.cycles, 50):.0f} ms, p95 {percentile_ms(result.cycles, 95):.0f} ms, "
          f"max {max(result.cycles, default=float('nan')) * 1e3:.0f} ms (target: all ok, p95 < "
          f"{TARGET_CYCLE_P95_S * 1e3:.0f} ms)")
    for error in result.errors[:3]:
        print(f"    {error}")
    print(f"  /healthz: {len(health)} probes, {len(health_errors)} failed; p50 {percentile_ms(health, 50):.0f} ms, "
          f"p95 {percentile_ms(health, 95):.0f} ms, max {max(health, default=float('nan')) * 1e3:.0f} ms "
          f"(target < {TARGET_HEALTHZ_S * 1e3:.0f} ms)")
    refused = {k: v for k, v in sorted(counts.items()) if k != "200"}
    print(f"  gradchecks served: {counts['200']}, refused or failed: "
          f"{', '.join(f'{v} × {k}' for k, v in refused.items()) or 'none'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of flood (default 20)")
    parser.add_argument("--flooders", type=int, default=40, help="clients looping on gradcheck (default 40)")
    parser.add_argument("--samples", type=int, default=64, help="sampled weights per gradcheck, 1-64 (default 64)")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose server to run")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.flooders < 1 or not 1 <= args.samples <= 64:
        parser.error("--duration > 0, --flooders ≥ 1, --samples in 1-64")
    run(args.app_dir, args.duration, args.flooders, args.samples)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
