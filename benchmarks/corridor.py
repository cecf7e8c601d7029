"""The request corridor: what the server spends on one learner's cycle beside what the engine spends on it.

    python -m benchmarks.corridor [--cycles 600] [--transport input,upload,websocket] [--app-dir DIR]

One client runs cycles of forward → backward → step (lr 0.01, target = the digit's label) one request at a time
against a server it starts on 127.0.0.1: `input` sends the 28×28 input the page preprocessed itself (JSON), as the page
does; `upload` a 280×280 PNG of a drawing, black ink on white, that the server decodes and preprocesses; `websocket`
the same three passes as commands on one socket (binary frames, permessage-deflate as browsers negotiate it). REST
requests carry the Accept-Encoding Chromium sends (gzip, deflate, br, zstd).

Printed side by side, from one run:
  server CPU / cycle   the server process's user + system time over the cycles (from /proc/<pid>/stat, so the load
                       generator's own time is not counted), divided by the number of cycles
  engine CPU / cycle   this process timing the engine alone on the same cycle: forward, backward to the input and a
                       recorded SGD step, float64, batch 1, one BLAS thread (as the server runs it)
  ratio                server / engine: the cost of the corridor around the engine (target ≤ 5, aim 4)
  wire KB / cycle      request bodies plus response bodies as they travel (compressed), per cycle

--app-dir runs the server from another checkout (e.g. a `git worktree` of an older commit) with the same client and
the same engine reference, so versions compare in one way of measuring; an older server may not take `input`.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits

from app.services.images import image_to_input
from benchmarks.server import ROOT, Server, free_port
from cnn import SGD, load_model, softmax_cross_entropy
from cnn.allocator import keep_freed_memory
from cnn.pretrained import PRETRAINED_PATH, load_samples

CHROMIUM_ACCEPT_ENCODING = "gzip, deflate, br, zstd"  # what Debian's Chromium sends to http://127.0.0.1
TARGET_RATIO, AIM_RATIO = 5.0, 4.0
TRANSPORTS = ("input", "upload", "websocket")
LR = 0.01


@dataclass
class Result:
    transport: str
    cycles: int
    server_cpu_s: float
    wire_bytes: int
    seconds: float


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a whole process (all its threads), from /proc/<pid>/stat, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drawing_png(image: np.ndarray) -> bytes:
    """A 28×28 MNIST digit as the pad would draw it: 280×280, black ink on white."""
    big = Image.fromarray(255 - image).resize((280, 280), Image.Resampling.BILINEAR).convert("RGBA")
    buf = io.BytesIO()
    big.save(buf, format="PNG")
    return buf.getvalue()


def input_body(image: np.ndarray) -> dict[str, Any]:
    """The page's forward body: its own preprocessing of the drawing, as float32."""
    pre = image_to_input(drawing_png(image)).input.astype("<f4")
    return {"input": {"shape": [28, 28], "dtype": "float32", "data": base64.b64encode(pre.tobytes()).decode()}}


def _measure(server: Server, transport: str, cycle: Callable[[int], int], cycles: int, warmup: int) -> Result:
    """Run `cycle(i)` (which returns the bytes it moved) warmup times, then `cycles` times under the CPU counters."""
    for i in range(warmup):
        cycle(i)
    wire = 0
    cpu0, t0 = process_cpu_seconds(server.proc.pid), time.perf_counter()
    for i in range(cycles):
        wire += cycle(i)
    cpu = process_cpu_seconds(server.proc.pid) - cpu0
    return Result(transport, cycles, cpu, wire, time.perf_counter() - t0)


def run_socket_cycles(server: Server, cycles: int, warmup: int) -> Result:
    """The same cycle as commands on one WebSocket (forward with the page's input), each pass read to its end, with
    permessage-deflate as browsers negotiate it. Wire bytes are counted before deflate: an upper bound."""
    from websockets.sync.client import connect

    images, labels = load_samples()
    forwards = [json.dumps({"cmd": "forward", "input": input_body(im)["input"]}) for im in images]
    url = server.base_url.replace("http://", "ws://", 1) + "/ws?tab=corridor"
    with connect(url, compression="deflate", max_size=None) as ws:

        def command(text: str) -> int:
            ws.send(text)
            moved = len(text)
            while True:
                message = ws.recv()
                moved += len(message)
                if isinstance(message, str):
                    parsed = json.loads(message)
                    if parsed["type"] == "error":
                        raise RuntimeError(parsed["message"])
                    if parsed["type"] == "done":
                        return moved

        def cycle(i: int) -> int:
            k = i % len(labels)
            return (command(forwards[k]) + command(json.dumps({"cmd": "backward", "target": int(labels[k])}))
                    + command(json.dumps({"cmd": "step", "lr": LR})))

        return _measure(server, "websocket", cycle, cycles, warmup)


def run_cycles(server: Server, transport: str, cycles: int, warmup: int) -> Result:
    """One client's cycles over `transport`, measured."""
    if transport == "websocket":
        return run_socket_cycles(server, cycles, warmup)
    images, labels = load_samples()
    png = [drawing_png(im) for im in images]
    bodies = [input_body(im) for im in images]
    headers = {"Accept-Encoding": CHROMIUM_ACCEPT_ENCODING, "X-Tab-Id": f"corridor-{transport}"}

    def moved(response: httpx.Response) -> int:
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url.path}: {response.status_code} {response.text[:300]}")
        return int(response.request.headers.get("content-length", 0)) + response.num_bytes_downloaded

    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30, trust_env=False) as client:
        client.get("/")  # the session cookie

        def cycle(i: int) -> int:
            k = i % len(labels)
            if transport == "upload":
                forward = client.post("/api/forward", files={"file": ("digit.png", png[k], "image/png")})
            else:
                forward = client.post("/api/forward", json=bodies[k])
            return (moved(forward) + moved(client.post("/api/backward", json={"target": int(labels[k])}))
                    + moved(client.post("/api/step", json={"lr": LR})))

        return _measure(server, transport, cycle, cycles, warmup)


def engine_cycle_seconds(repeats: int = 7, inner: int = 200) -> float:
    """The median CPU time of the engine's own cycle: forward, backward (to the input), a recorded SGD step."""
    model = load_model(PRETRAINED_PATH, dtype="float64")
    images, labels = load_samples()
    x = (images[7] / 255.0).reshape(1, 1, 28, 28)
    opt = SGD(LR)

    def cycle() -> None:
        _, dlogits = softmax_cross_entropy(model.forward(x), [int(labels[7])])
        model.backward(dlogits)
        opt.step_recorded(model)

    samples = []
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(20):
            cycle()
        for _ in range(repeats):
            start = time.process_time()
            for _ in range(inner):
                cycle()
            samples.append((time.process_time() - start) / inner)
    return float(np.median(samples))


def print_results(results: list[Result], engine: float) -> None:
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; one client, one request at a time; engine: "
          "forward + backward + recorded SGD step, float64, batch 1")
    head = (f"{'transport':>9} {'cycles':>7} {'server CPU ms/cycle':>20} {'engine CPU ms/cycle':>20} {'ratio':>6} "
            f"{'wire KB/cycle':>14} {'cycles/s':>9}")
    print(head)
    print("-" * len(head))
    for r in results:
        server_ms, engine_ms = r.server_cpu_s / r.cycles * 1e3, engine * 1e3
        print(f"{r.transport:>9} {r.cycles:>7} {server_ms:>20.2f} {engine_ms:>20.3f} {server_ms / engine_ms:>6.1f} "
              f"{r.wire_bytes / r.cycles / 1000:>14.1f} {r.cycles / r.seconds:>9.1f}")
    for r in results:
        ratio = r.server_cpu_s / r.cycles / engine
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(f"{r.transport}: ratio {ratio:.1f} against the target ≤ {TARGET_RATIO:g} (aim {AIM_RATIO:g}): {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=600, help="measured cycles per transport (default 600)")
    parser.add_argument("--warmup", type=int, default=30, help="cycles run first and not counted (default 30)")
    parser.add_argument("--transport", default=",".join(TRANSPORTS),
                        help=f"comma-separated, of {', '.join(TRANSPORTS)} (default all)")
    parser.add_argument("--app-dir", type=Path, default=ROOT, help="the checkout whose server to run")
    args = parser.parse_args(argv)
    transports = [t.strip() for t in args.transport.split(",") if t.strip()]
    if args.cycles < 1 or args.warmup < 0 or not transports or not set(transports) <= set(TRANSPORTS):
        parser.error(f"--cycles ≥ 1, --warmup ≥ 0, --transport among {', '.join(TRANSPORTS)}")

    keep_freed_memory()
    results = []
    for transport in transports:  # a fresh server each, so one transport's state does not colour the other's
        server = Server(free_port(), max_sessions=100, root=args.app_dir)
        try:
            server.wait_healthy()
            results.append(run_cycles(server, transport, args.cycles, args.warmup))
        finally:
            server.stop()
    engine = engine_cycle_seconds()

    print(f"server from {args.app_dir}")
    print_results(results, engine)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
