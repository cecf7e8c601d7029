"""Throughput and latency with one and two worker processes on the Redis session store, beside one process on the
in-memory store (the default, and the reference), in one run:

    python -m benchmarks.scaleout [--duration 20] [--clients 32] [--timeout 10]

Each configuration is a server of its own (uvicorn app.main:app --workers N on a free port of 127.0.0.1; the Redis
ones on a redis-server this benchmark starts, without persistence), warmed up for a few seconds, then loaded by
`--clients` sessions, each looping forward → backward → step with no pause for `--duration` seconds, as the page
does: the forward sends the 28×28 input the page preprocesses itself (a sample digit), the backward names its label,
the step has lr 0.01. (benchmarks.server uploads PNGs instead, which the server decodes one at a time, its engine
gate: that measures the decoder, not the store.) The table gives requests per second, p50 and p99 per request,
errors, and the ratios to one worker on Redis.

Read the figures with the machine in mind: the load generator (this process, one core at most) runs on the same cores
as the server. On a 2-core machine two workers and the generator want three cores between them, so the second worker
can add far less than a second core's worth: the ratio is a floor for what a second core does on a machine of its
own. Nothing else should be running while it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.server import KINDS, LR, Level, Server, free_port, percentile_ms
from cnn.pretrained import load_samples
from tests.redis_server import RedisServer

WARM_UP_SECONDS = 3.0


@dataclass(frozen=True)
class Config:
    name: str
    workers: int
    redis: bool


CONFIGS = (Config("memory store, 1 process", 1, False), Config("Redis store, 1 worker", 1, True),
           Config("Redis store, 2 workers", 2, True))
REFERENCE = CONFIGS[1]


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn's supervisor and its workers), in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


def page_inputs() -> list[tuple[dict[str, Any], int]]:
    """The sample digits as the page sends them: {"input": float32 28×28 in base64}, with their labels."""
    images, labels = load_samples()
    return [({"input": {"shape": [28, 28], "dtype": "float32",
                        "data": base64.b64encode((image / 255.0).astype("<f4").tobytes()).decode()}}, int(label))
            for image, label in zip(images, labels, strict=True)]


async def learner(base_url: str, body: dict[str, Any], label: int, deadline: float, timeout: float,
                  level: Level) -> None:
    """One tab's cycles until the deadline, each request's latency kept; a failed request ends the cycle."""
    async with httpx.AsyncClient(base_url=base_url, headers={"X-Tab-Id": secrets.token_urlsafe(12)}, timeout=timeout,
                                 trust_env=False) as client:
        await client.get("/")
        calls = {"forward": ("/api/forward", body), "backward": ("/api/backward", {"target": label}),
                 "step": ("/api/step", {"lr": LR})}
        while time.monotonic() < deadline:
            for kind in KINDS:
                start = time.perf_counter()
                try:
                    response = await client.post(calls[kind][0], json=calls[kind][1])
                except httpx.HTTPError as e:
                    response = None
                    level.errors.append(f"{kind}: {type(e).__name__}")
                level.latencies[kind].append(time.perf_counter() - start)
                if response is None or response.status_code != 200:
                    if response is not None:
                        level.errors.append(f"{kind}: {response.status_code} {response.text[:160]}")
                    break
            else:
                level.cycles += 1


async def load(server: Server, clients: int, seconds: float, timeout: float) -> Level:
    level, inputs = Level(clients), page_inputs()
    start = time.monotonic()
    await asyncio.gather(*(learner(server.base_url, *inputs[i % len(inputs)], start + seconds, timeout, level)
                           for i in range(clients)))
    level.seconds = time.monotonic() - start
    return level


def measure(config: Config, redis_url: str | None, clients: int, seconds: float, timeout: float) -> tuple[Level, float]:
    settings = {"session_store": redis_url} if redis_url else {}
    server = Server(free_port(), settings=settings, workers=config.workers)
    try:
        server.wait_healthy()
        asyncio.run(load(server, clients, WARM_UP_SECONDS, timeout))  # every worker warm
        level = asyncio.run(load(server, clients, seconds, timeout))
        return level, tree_rss_mb(server.proc.pid)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per configuration (default 20)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent sessions (default 32)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per request (default 10)")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients < 1 or args.timeout <= 0:
        parser.error("--duration, --clients and --timeout must be positive")

    print(f"{os.cpu_count()} cores shared by the server and the load generator; {args.clients} sessions in a closed "
          f"loop, {args.duration:g} s per configuration")
    results: dict[Config, tuple[Level, float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        redis_server = RedisServer(Path(workdir))
        try:
            for config in CONFIGS:
                url = f"{redis_server.url}/0" if config.redis else None
                results[config] = measure(config, url, args.clients, args.duration, args.timeout)
                time.sleep(1.0)  # let the machine settle between servers
        finally:
            redis_server.stop()

    ref_level, _ = results[REFERENCE]
    ref_rate = ref_level.requests / ref_level.seconds
    ref_p99 = percentile_ms(ref_level.all_latencies(), 99)
    head = (f"{'configuration':<26}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}{'RSS MB':>9}"
            f"{'× throughput':>14}{'× p99':>8}")
    print(head)
    print("-" * len(head))
    for config, (level, rss) in results.items():
        rate = level.requests / level.seconds
        latencies = level.all_latencies()
        p99 = percentile_ms(latencies, 99)
        print(f"{config.name:<26}{rate:>11.1f}{percentile_ms(latencies, 50):>9.1f}{p99:>9.1f}{len(level.errors):>8}"
              f"{rss:>9.0f}{rate / ref_rate:>14.2f}{p99 / ref_p99:>8.2f}")
    for config, (level, _) in results.items():
        for err in level.errors[:3]:
            print(f"  error ({config.name}): {err}")
    print(f"ratios are to '{REFERENCE.name}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
