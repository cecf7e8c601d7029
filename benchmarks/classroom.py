"""A classroom on one server: 1,000 learners active at once, default settings, no pass lost, memory under 1 GB.

    python -m benchmarks.classroom [--learners 1000] [--ramp 30] [--think 2] [--cycles 2] [--app-dir DIR]

It starts its own server (uvicorn on a free port of 127.0.0.1, default settings) and plays a class that opens the
page within `--ramp` seconds: every learner loads the page (its own cookie), then does `--cycles` times what the page
does, forward (the 28×28 input the page preprocesses itself) → backward (target = the digit's label) → step
(lr 0.01), with a pause after each request (exponential, mean `--think` seconds). All of them are active within the
idle limit, so no session may be evicted and no pass may fail. Every request's status and latency is kept; the
server's resident memory (VmRSS) is sampled every half second. Printed: requests by status, latency percentiles,
sessions held, RSS at start, peak and end, and the verdict against the targets (no pass lost, RSS < 1 GB).

The load generator shares the machine's cores with the server: latencies are an upper bound. One HTTP connection
pool serves all learners, each with its own cookie jar and tab id, as a thousand browsers' connections would.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.corridor import input_body
from benchmarks.server import ROOT, Server, free_port, percentile_ms, rss_kb
from cnn.pretrained import load_samples

TARGET_RSS_MB = 1024
LR = 0.01


@dataclass
class Classroom:
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    cycles: int = 0
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MB)


async def learner(transport: httpx.AsyncHTTPTransport, base_url: str, index: int, args: argparse.Namespace,
                  room: Classroom, bodies: list[dict[str, object]], labels: list[int]) -> None:
    rng = random.Random(index)
    await asyncio.sleep(rng.uniform(0, args.ramp))
    # A browser of its own (its cookie jar) over the shared connection pool; not closed here, which would close the
    # pool for everyone.
    client = httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60, trust_env=False)
    await client.get("/")
    headers = {"X-Tab-Id": f"tab{index}"}
    k = index % len(labels)
    requests = [("/api/forward", bodies[k]), ("/api/backward", {"target": labels[k]}), ("/api/step", {"lr": LR})]
    for _ in range(args.cycles):
        for path, body in requests:
            start = time.perf_counter()
            try:
                r = await client.post(path, json=body, headers=headers)
                status = str(r.status_code)
            except httpx.HTTPError as e:
                status = type(e).__name__
            room.latencies.append(time.perf_counter() - start)
            room.statuses[status] += 1
            if status != "200":
                room.failures.append(f"learner {index} {path}: {status} {getattr(r, 'text', '')[:160]}")
                return
            await asyncio.sleep(rng.expovariate(1 / args.think))
        room.cycles += 1


async def sample_rss(pid: int, room: Classroom, start: float, stop: asyncio.Event) -> None:
    while not stop.is_set():
        room.rss_mb.append((time.monotonic() - start, rss_kb(pid) / 1024))
        try:
            await asyncio.wait_for(stop.wait(), timeout=0.5)
        except TimeoutError:
            pass


async def run(server: Server, args: argparse.Namespace) -> Classroom:
    images, labels = load_samples()
    bodies = [input_body(im) for im in images]
    room = Classroom()
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncHTTPTransport(limits=limits) as transport:
        start, stop = time.monotonic(), asyncio.Event()
        sampler = asyncio.create_task(sample_rss(server.proc.pid, room, start, stop))
        await asyncio.gather(*(learner(transport, server.base_url, i, args, room, bodies, [int(x) for x in labels])
                               for i in range(args.learners)))
        room.rss_mb.append((time.monotonic() - start, rss_kb(server.proc.pid) / 1024))
        stop.set()
        await sampler
    return room


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=1000)
    parser.add_argument("--ramp", type=float, default=30.0, help="seconds over which the class arrives")
    parser.add_argument("--think", type=float, default=2.0, help="mean pause after each request, in seconds")
    parser.add_argument("--cycles", type=int, default=2, help="forward → backward → step cycles per learner")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose server to run")
    args = parser.parse_args(argv)
    if args.learners < 1 or args.ramp < 0 or args.think <= 0 or args.cycles < 1:
        parser.error("--learners and --cycles ≥ 1, --ramp ≥ 0, --think > 0")

    server = Server(free_port(), root=args.app_dir)  # default settings: a class uses what it is given
    try:
        server.wait_healthy()
        rss_start = rss_kb(server.proc.pid) / 1024
        began = time.monotonic()
        room = asyncio.run(run(server, args))
        seconds = time.monotonic() - began
        with httpx.Client(base_url=server.base_url, trust_env=False) as client:
            sessions = client.get("/healthz").json().get("sessions")
        if server.proc.poll() is not None:
            print(f"the server died during the run:\n{server.output()}")
            return 1
    finally:
        server.stop()

    peak = max(mb for _, mb in room.rss_mb)
    print(f"{args.learners} learners arriving over {args.ramp:g} s, {args.cycles} cycles each, think {args.think:g} s; "
          f"server from {args.app_dir}; Python {sys.version.split()[0]}; the load generator shares the cores")
    print(f"time {seconds:.0f} s; cycles completed {room.cycles} of {args.learners * args.cycles}; "
          f"requests by status: {dict(room.statuses)}")
    print(f"latency p50 {percentile_ms(room.latencies, 50):.1f} ms, p95 {percentile_ms(room.latencies, 95):.1f} ms, "
          f"p99 {percentile_ms(room.latencies, 99):.1f} ms, max {max(room.latencies) * 1e3:.0f} ms")
    print(f"sessions held at the end: {sessions}; server RSS: start {rss_start:.0f} MB, peak {peak:.0f} MB, "
          f"end {room.rss_mb[-1][1]:.0f} MB")
    for failure in room.failures[:5]:
        print("  " + failure)
    lost = args.learners * args.cycles - room.cycles
    verdict = "met" if lost == 0 and peak < TARGET_RSS_MB else "MISSED"
    print(f"target: every pass served (lost {lost} cycles) and RSS < {TARGET_RSS_MB} MB (peak {peak:.0f}): {verdict}")
    return 0 if verdict == "met" else 1


if __name__ == "__main__":
    raise SystemExit(main())
