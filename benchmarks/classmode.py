"""Class mode under a school's load: several classes at once, every student drawing, every teacher's wall live; one
process on the in-memory store (the default, and the reference) beside one and two workers on Redis, in one run:

    python -m benchmarks.classmode [--classes 10] [--students 50] [--period 2] [--duration 20]

Each configuration is a server of its own (uvicorn app.main:app on a free port of 127.0.0.1; the Redis ones on a
redis-server this benchmark starts). `--classes` teachers start a class and open their wall's socket; `--students`
students join each (POST /join, then the socket), and each sends a drawing every `--period` seconds on average
(exponentially spaced, as people are), for `--duration` seconds. A drawing carries a counter in its first pixels, so
the teacher's socket can tell which send each tile it receives answers: the latency is from the student's send to the
tile's arrival on the wall. The table gives drawings sent per second, the share of them the walls received (a wall
that falls behind gets each student's newest tile, not every one: fewer than 100 % is that bound at work, not a loss),
p50 and p99 of that latency, errors, and the server's resident memory.

The load generator (this process, one core at most) shares the machine's cores with the server and Redis: on a small
machine the figures are an upper bound of the latency, and the Redis rows pay for a second process on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import struct
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from benchmarks.scaleout import CONFIGS, Config, tree_rss_mb
from benchmarks.server import Server, free_port, percentile_ms
from tests.redis_server import RedisServer

REFERENCE = CONFIGS[0]  # the memory store: what one machine does without Redis
ONE_HOT = [[1.0 if k == d else 0.0 for k in range(10)] for d in range(10)]


@dataclass
class Tally:
    sent: dict[tuple[str, int], float] = field(default_factory=dict)  # (student id, counter) -> send time
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def drawing(counter: int) -> str:
    """A drawing message whose image starts with `counter` (4 bytes), the rest a fixed stroke."""
    pixels = bytearray(784)
    pixels[0:4] = struct.pack("<I", counter)
    for k in range(200, 600, 29):
        pixels[k] = 255
    digit = counter % 10
    return json.dumps({"type": "drawing", "image": base64.b64encode(bytes(pixels)).decode(), "prediction": digit,
                       "probabilities": ONE_HOT[digit]})


def ws_url(base_url: str, code: str, token: str) -> str:
    return f"{base_url.replace('http', 'ws', 1)}/ws/class/{code}?token={token}"


async def teacher_wall(url: str, tally: Tally, stop: asyncio.Event, ready: asyncio.Event) -> None:
    """A teacher's socket: every tile received is matched to its send by the counter in its image."""
    async with websockets.connect(url, max_size=2**20) as ws:
        ready.set()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
            except TimeoutError:
                continue
            now = time.perf_counter()
            msg = json.loads(raw)
            tile = msg.get("student") if msg.get("type") == "tile" else None
            if tile and tile.get("image"):
                counter = struct.unpack("<I", base64.b64decode(tile["image"])[:4])[0]
                sent = tally.sent.pop((tile["id"], counter), None)
                if sent is not None:
                    tally.latencies.append(now - sent)


async def join(client: httpx.AsyncClient, code: str, name: str, tally: Tally) -> tuple[str, str] | None:
    """A student's join, waiting as the page does when the class is busy (429/503 with Retry-After)."""
    for _ in range(30):
        r = await client.post(f"/api/class/{code}/join", json={"name": name})
        if r.status_code == 200:
            body = r.json()
            return body["student"]["id"], body["token"]
        if r.status_code not in (429, 503):
            break
        await asyncio.sleep(float(r.headers.get("retry-after", "1")) * random.uniform(1, 1.5))
    tally.errors.append(f"join: {r.status_code} {r.text[:120]}")
    return None


async def student(ws_address: str, sid: str, period: float, start: asyncio.Event, deadline: list[float],
                  tally: Tally) -> None:
    """A joined student's socket: once every student is in, a drawing every `period` s on average."""
    async with websockets.connect(ws_address, max_size=2**20) as ws:
        async def drain() -> None:
            with contextlib.suppress(websockets.ConnectionClosed):
                async for raw in ws:
                    msg = json.loads(raw)
                    if msg.get("type") == "error":
                        tally.errors.append(f"socket: {msg.get('code')}: {msg.get('detail')}")
        reader = asyncio.create_task(drain())
        await start.wait()
        counter = 0
        await asyncio.sleep(random.uniform(0, period))  # students do not start in step
        try:
            while time.monotonic() < deadline[0]:
                counter += 1
                tally.sent[(sid, counter)] = time.perf_counter()
                await ws.send(drawing(counter))
                await asyncio.sleep(random.expovariate(1 / period))
        except websockets.ConnectionClosed as e:
            tally.errors.append(f"socket closed by the server: {e.rcvd.code if e.rcvd else '?'}")
            tally.sent.pop((sid, counter), None)
        reader.cancel()


async def run_classes(base_url: str, classes: int, students: int, period: float, seconds: float) -> Tally:
    tally, stop, start = Tally(), asyncio.Event(), asyncio.Event()
    async with httpx.AsyncClient(base_url=base_url, timeout=30, trust_env=False,
                                 limits=httpx.Limits(max_connections=200)) as client:
        codes, walls = [], []
        for _ in range(classes):
            r = await client.post("/api/class", json={"title": "benchmark"})
            r.raise_for_status()
            made = r.json()
            ready = asyncio.Event()
            walls.append(asyncio.create_task(teacher_wall(ws_url(base_url, made["code"], made["teacher_token"]),
                                                          tally, stop, ready)))
            await ready.wait()
            codes.append(made["code"])
        # every student joins first (joining is rate-limited per class: a burst of 20, then 5 a second), then all draw
        joined = await asyncio.gather(*(join(client, code, f"s{k}", tally) for code in codes for k in range(students)))
        deadline = [0.0]
        members = [(codes[i // students], *j) for i, j in enumerate(joined) if j is not None]
        sockets = [asyncio.create_task(student(ws_url(base_url, code, token), sid, period, start, deadline, tally))
                   for code, sid, token in members]
        await asyncio.sleep(2.0)  # the sockets open
        deadline[0] = time.monotonic() + seconds
        start.set()
        await asyncio.gather(*sockets)
        tally.seconds = seconds  # drawings are sent within the window (a student's last pause may outlast it)
        await asyncio.sleep(1.0)  # the last tiles arrive
        stop.set()
        await asyncio.gather(*walls)
    return tally


def measure(config: Config, redis_url: str | None, args: argparse.Namespace) -> tuple[Tally, int, float]:
    settings = {"session_store": redis_url} if redis_url else {}
    settings["class_max_students"] = str(max(60, args.students))
    server = Server(free_port(), settings=settings, workers=config.workers)
    try:
        server.wait_healthy()
        tally = asyncio.run(run_classes(server.base_url, args.classes, args.students, args.period, args.duration))
        received = len(tally.latencies)
        return tally, received, tree_rss_mb(server.proc.pid)
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classes", type=int, default=10, help="classes at once (default 10)")
    parser.add_argument("--students", type=int, default=50, help="students per class (default 50)")
    parser.add_argument("--period", type=float, default=2.0, help="mean seconds between a student's drawings")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of drawing per configuration")
    args = parser.parse_args(argv)
    if min(args.classes, args.students) < 1 or min(args.period, args.duration) <= 0:
        parser.error("every figure must be positive")

    print(f"{os.cpu_count()} cores shared by the server, Redis and the load generator; {args.classes} classes of "
          f"{args.students} students, a drawing every {args.period:g} s each on average, {args.duration:g} s")
    results: dict[Config, tuple[Tally, int, float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        redis_server = RedisServer(Path(workdir))
        try:
            for config in CONFIGS:
                url = f"{redis_server.url}/0" if config.redis else None
                results[config] = measure(config, url, args)
                time.sleep(1.0)
        finally:
            redis_server.stop()

    ref_p99 = percentile_ms(results[REFERENCE][0].latencies, 99)
    head = (f"{'configuration':<26}{'sent/s':>8}{'on walls':>10}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}{'RSS MB':>8}"
            f"{'× p99':>7}")
    print(head)
    print("-" * len(head))
    for config, (tally, received, rss) in results.items():
        sent = received + len(tally.sent)
        p99 = percentile_ms(tally.latencies, 99)
        print(f"{config.name:<26}{sent / tally.seconds:>8.0f}{100 * received / max(1, sent):>9.1f}%"
              f"{percentile_ms(tally.latencies, 50):>8.1f}{p99:>8.1f}{len(tally.errors):>8}{rss:>8.0f}"
              f"{p99 / ref_p99:>7.2f}")
    for config, (tally, _, _) in results.items():
        for err in tally.errors[:3]:
            print(f"  error ({config.name}): {err}")
    print(f"ratios are to '{REFERENCE.name}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
