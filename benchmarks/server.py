"""Load on the server over 127.0.0.1: concurrent sessions each looping forward → backward → step.

    python -m benchmarks.server [--duration 20] [--clients 1,8,32] [--timeout 10] [--think 0]
    python -m benchmarks.server --soak 120          # 32 clients for 120 s, the server's RSS every 10 s

It starts its own server (uvicorn app.main:app on a free port of 127.0.0.1, CNN_MAX_SESSIONS raised above the number
of clients), waits for /healthz, then runs each level for a fixed time. Every client is its own session (its own
cookie jar and X-Tab-Id) and repeats one cycle: POST /api/forward (a PNG of a sample digit, multipart), POST
/api/backward (target = the digit's true label), POST /api/step (lr 0.01). Every request's latency is kept; the table
gives p50 and p99 over all requests and per type, cycles per second, and the server's resident memory (VmRSS) at the
start and end of the level. The server is always stopped (terminate, then kill) however the benchmark ends.
Targets (at 32 clients): p50 ≤ 20 ms and p99 ≤ 100 ms per request. After the levels, one client's cycles on the idle
server give the server's CPU per cycle beside the engine's (benchmarks.corridor, which also compares transports and
versions).

The clients run in this process on the same cores as the server, so their own time is part of each latency: on a
small shared machine the figures are an upper bound and noisy. By default every client sends its next request as soon
as the last one is answered (a closed loop, no think time), so the mean latency is about clients / requests per
second (Little's law): --think adds a pause after each cycle, as a person would (exponentially distributed with that
mean, and a random start, so that clients do not fire in lockstep). The server inherits this process's
environment, so e.g. OPENBLAS_NUM_THREADS=1 can be tried without editing anything.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from cnn.pretrained import load_samples

HOST = "127.0.0.1"  # the benchmark never talks to any other address
ROOT = Path(__file__).resolve().parent.parent
KINDS = ("forward", "backward", "step")
TARGET_P50_MS, TARGET_P99_MS, TARGET_CLIENTS = 20.0, 100.0, 32
LR = 0.01


@dataclass
class Level:
    clients: int
    seconds: float = 0.0
    cycles: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    rss_start_kb: int = 0
    rss_end_kb: int = 0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def all_latencies(self) -> list[float]:
        return [t for v in self.latencies.values() for t in v]


def percentile_ms(samples: list[float], q: float) -> float:
    """Nearest-rank percentile of latencies in seconds, in milliseconds (nan when there are none)."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1e3


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def rss_kb(pid: int) -> int:
    """The process's resident set size from /proc/<pid>/status (VmRSS, in kB); 0 if it cannot be read."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def digit_pngs() -> list[tuple[bytes, int]]:
    """The ten sample digits as PNG files, with their labels."""
    images, labels = load_samples()
    out = []
    for image, label in zip(images, labels, strict=True):
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, format="PNG")
        out.append((buf.getvalue(), int(label)))
    return out


class Server:
    """uvicorn app.main:app in a subprocess on 127.0.0.1, its output in a temporary file shown if it fails.

    `max_sessions` is for servers from before sessions were held within a memory budget (an older checkout run with
    `root`, to compare): they kept a count of sessions, CNN_MAX_SESSIONS, which today's server ignores. `settings`
    are further CNN_ variables, by name without the prefix; `workers`, uvicorn's --workers (more than one needs the
    Redis store)."""

    def __init__(self, port: int, max_sessions: int = 100, root: Path = ROOT,
                 settings: dict[str, str] | None = None, workers: int = 1) -> None:
        self.port = port
        self.base_url = f"http://{HOST}:{port}"
        env = {**os.environ, "CNN_MAX_SESSIONS": str(max_sessions),
               **{f"CNN_{k.upper()}": v for k, v in (settings or {}).items()}}
        self.log = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", HOST, "--port", str(port),
               "--no-access-log", "--log-level", "warning", "--no-server-header", "--no-proxy-headers"]
        cmd += ["--workers", str(workers)] if workers > 1 else []
        # A session of its own, so that stop() can end uvicorn's worker processes along with their supervisor.
        self.proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with code {self.proc.returncode}:\n{self.output()}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"the server did not answer /healthz within {timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:]

    def rss_kb(self) -> int:
        return rss_kb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


async def client_loop(base_url: str, png: bytes, label: int, deadline: float, timeout: float, think: float,
                      level: Level) -> None:
    """One session: cycles of forward → backward → step until the deadline, each request's latency recorded.

    A request that times out counts as an error and its latency (the timeout) is kept, so a stalled server shows in
    p99; the client then starts a new cycle. Accept-Encoding is httpx's default (gzip among others), as a browser's.
    """
    headers = {"X-Tab-Id": secrets.token_urlsafe(12)}
    # People do not act in lockstep: each client pauses for an exponentially distributed time with mean `think`
    # (and starts after a random share of one), so that 32 clients do not fire their requests in synchronized bursts.
    pauses = random.Random(headers["X-Tab-Id"])
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, trust_env=False) as client:
        await client.get("/")  # the page sets the session cookie, kept in this client's own jar
        if think > 0:
            await asyncio.sleep(pauses.uniform(0, think))
        requests = {
            "forward": lambda: client.post("/api/forward", files={"file": ("digit.png", png, "image/png")}),
            "backward": lambda: client.post("/api/backward", json={"target": label}),
            "step": lambda: client.post("/api/step", json={"lr": LR}),
        }
        while time.monotonic() < deadline:
            for kind in KINDS:
                start = time.perf_counter()
                try:
                    response = await requests[kind]()
                except httpx.TimeoutException as e:
                    level.latencies[kind].append(time.perf_counter() - start)
                    level.errors.append(f"{kind}: {type(e).__name__} after {timeout:g} s")
                    break
                except httpx.HTTPError as e:  # the server is gone: no point in going on
                    level.errors.append(f"{kind}: {type(e).__name__}: {e}")
                    return
                level.latencies[kind].append(time.perf_counter() - start)
                if response.status_code != 200:
                    level.errors.append(f"{kind}: {response.status_code} {response.text[:200]}")
                    break
            else:
                level.cycles += 1
            if think > 0:
                await asyncio.sleep(pauses.expovariate(1 / think))


async def run_level(server: Server, clients: int, seconds: float, timeout: float, samples: list[tuple[bytes, int]],
                    think: float = 0.0, rss_every: float = 0.0) -> Level:
    level = Level(clients)
    level.rss_start_kb = server.rss_kb()
    start = time.monotonic()
    deadline = start + seconds
    tasks = [asyncio.create_task(client_loop(server.base_url, *samples[i % len(samples)], deadline, timeout, think,
                                             level)) for i in range(clients)]
    if rss_every > 0:
        print(f"{'t s':>6} {'RSS MB':>8} {'requests':>9}")
        print(f"{0:6.0f} {level.rss_start_kb / 1024:8.1f} {0:9d}")
        next_t = rss_every
        while not all(t.done() for t in tasks):
            await asyncio.wait(tasks, timeout=max(0.0, start + next_t - time.monotonic()))
            if time.monotonic() >= start + next_t and next_t <= seconds:
                print(f"{next_t:6.0f} {server.rss_kb() / 1024:8.1f} {level.requests:9d}", flush=True)
                next_t += rss_every
    # Every request has its own timeout, so this wait is bounded by the duration plus three timeouts.
    await asyncio.gather(*tasks)
    level.seconds = time.monotonic() - start
    level.rss_end_kb = server.rss_kb()
    return level


def print_table(levels: list[Level]) -> None:
    cols = ["all", *KINDS]
    head = f"{'clients':>7} {'requests':>9} {'errors':>6} {'cycles/s':>9} " + " ".join(
        f"{c + ' p50/p99 ms':>22}" for c in cols) + f" {'RSS start→end MB':>18}"
    print(head)
    print("-" * len(head))
    for lv in levels:
        groups = [lv.all_latencies(), *(lv.latencies[k] for k in KINDS)]
        figures = " ".join(f"{percentile_ms(g, 50):>12.1f} / {percentile_ms(g, 99):>7.1f}" for g in groups)
        rss = f"{lv.rss_start_kb / 1024:.1f} → {lv.rss_end_kb / 1024:.1f}"
        print(f"{lv.clients:>7} {lv.requests:>9} {len(lv.errors):>6} {lv.cycles / lv.seconds:>9.1f} {figures} "
              f"{rss:>18}")
    for lv in levels:
        for err in lv.errors[:3]:
            print(f"  error at {lv.clients} clients: {err}")
    for lv in levels:
        if lv.clients == TARGET_CLIENTS:
            all_ms = lv.all_latencies()
            p50, p99 = percentile_ms(all_ms, 50), percentile_ms(all_ms, 99)
            verdict = "met" if p50 <= TARGET_P50_MS and p99 <= TARGET_P99_MS and not lv.errors else "MISSED"
            print(f"target at {TARGET_CLIENTS} clients: p50 ≤ {TARGET_P50_MS:.0f} ms (got {p50:.1f}), "
                  f"p99 ≤ {TARGET_P99_MS:.0f} ms (got {p99:.1f}) per request: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per level (default 20)")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated client counts (default 1,8,32)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per request (default 10)")
    parser.add_argument("--think", type=float, default=0.0, metavar="SECONDS",
                        help="mean pause after each cycle, exponentially distributed (default 0: a closed loop)")
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS",
                        help=f"instead of the levels, run {TARGET_CLIENTS} clients this long, RSS every 10 s")
    args = parser.parse_args(argv)
    counts = [TARGET_CLIENTS] if args.soak else [int(c) for c in args.clients.split(",") if c.strip()]
    if not counts or min(counts) < 1 or args.duration <= 0 or args.timeout <= 0 or args.soak < 0 or args.think < 0:
        parser.error("client counts, --duration and --timeout must be positive; --soak and --think not negative")

    samples = digit_pngs()
    server = Server(free_port(), max_sessions=max(100, 2 * (sum(counts) + 1)))
    try:
        server.wait_healthy()
        print(f"server: pid {server.proc.pid} on {server.base_url}, {os.cpu_count()} CPUs, Python "
              f"{sys.version.split()[0]}, OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
              f"think {args.think:g} s; the clients share the machine, so figures are noisy")
        asyncio.run(run_level(server, 1, 2.0, args.timeout, samples))  # warm-up, not reported
        if args.soak:
            print(f"soak: {TARGET_CLIENTS} clients for {args.soak:.0f} s")
            levels = [asyncio.run(run_level(server, TARGET_CLIENTS, args.soak, args.timeout, samples, args.think,
                                            rss_every=10))]
        else:
            levels = [asyncio.run(run_level(server, n, args.duration, args.timeout, samples, args.think))
                      for n in counts]
        print()
        print_table(levels)
        if not args.soak:
            # The corridor on the same server, now idle: its CPU per cycle beside the engine's (benchmarks.corridor).
            from benchmarks.corridor import engine_cycle_seconds, print_results, run_cycles

            print()
            print_results([run_cycles(server, "input", 300, 20)], engine_cycle_seconds())
        if server.proc.poll() is not None:
            print(f"the server died during the run:\n{server.output()}")
            return 1
        return 1 if any(lv.errors for lv in levels) else 0
    finally:
        server.stop()


if __name__ == "__main__":
    raise SystemExit(main())
