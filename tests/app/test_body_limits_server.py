"""The body and message limits through a real uvicorn, started as `cnn-visualizer` starts it: a chunked body that
keeps coming is answered 413 while the client is still sending, and a WebSocket message over the forward's limit is
refused by uvicorn itself (ws_max_size), before the app ever holds it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.config import Settings
from app.limits import forward_body_bytes

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"
UPLOAD = 100_000


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """`cnn-visualizer` on a free port with CNN_MAX_UPLOAD_BYTES=100000; its address."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from app.main import main; sys.exit(main())",
                             "--host", HOST, "--port", str(port)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "CNN_MAX_UPLOAD_BYTES": str(UPLOAD)})
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"the server did not start:\n{log.read().decode()[-3000:]}")
            try:
                if httpx.get(f"http://{HOST}:{port}/healthz", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield f"{HOST}:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def test_a_chunked_body_that_keeps_coming_is_answered_413_while_it_is_sent(server: str) -> None:
    host, port = server.split(":")
    sent = 0
    stop = threading.Event()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /api/backward HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")

        def keep_sending() -> None:  # up to 1 GB, until the server stops reading
            nonlocal sent
            chunk = b"10000\r\n" + b" " * 0x10000 + b"\r\n"
            try:
                while not stop.is_set() and sent < 2**30:
                    sock.sendall(chunk)
                    sent += 0x10000
            except OSError:
                pass  # the server closed the connection: what it should do after answering

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
        stop.set()
        sender.join(timeout=10)
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 413"), reply[:300]
    answer = json.loads(body[body.index(b"{"):body.rindex(b"}") + 1])
    assert answer["code"] == "too_large"
    assert "at least" in answer["detail"] and "the limit is 0.0156 MB (16,384 bytes)" in answer["detail"], answer
    # What went out before the answer is the limit plus what the kernel's socket buffers took: far from the gigabyte.
    assert sent < 64 * 2**20, f"{sent:,} bytes were sent before the server answered"


def test_uvicorn_refuses_a_websocket_message_over_the_forwards_limit(server: str) -> None:
    limit = forward_body_bytes(UPLOAD)
    with connect(f"ws://{server}/ws", max_size=None) as ws:
        ws.send(json.dumps({"cmd": "reset"}))
        while not isinstance(message := ws.recv(timeout=10), str) or json.loads(message)["type"] != "done":
            pass  # the reset's pass: start, a message per layer, done
        with pytest.raises(ConnectionClosed) as closed:
            ws.send("x" * (limit + 1))
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # "message too big"


def test_the_dockerfile_bounds_websocket_messages_like_the_console_script() -> None:
    line = next(ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.startswith("CMD "))
    cmd: list[str] = json.loads(line[4:])
    assert cmd[0] == "uvicorn" and "--ws-max-size" in cmd, cmd
    default_upload = Settings.model_fields["max_upload_bytes"].default
    assert int(cmd[cmd.index("--ws-max-size") + 1]) == forward_body_bytes(default_upload)
