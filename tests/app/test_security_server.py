"""The headers as a browser gets them from a real uvicorn on 127.0.0.1, started the ways the project starts it: the
`cnn-visualizer` console script and the Dockerfile's CMD. uvicorn adds `server` and reads X-Forwarded-* itself,
outside the app, so only a real process shows that both are switched off (and that CNN_TRUST_PROXY_HEADERS turns the
second back on)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from app.security import PAGE_POLICY

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"  # these tests never talk to any other address
FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
Command = Callable[[int], list[str]]  # port -> the command line of a server on it
Serve = Callable[..., str]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def dockerfile_cmd(port: int) -> list[str]:
    """The Dockerfile's CMD, on 127.0.0.1 and `port` instead of 0.0.0.0:8000, run by this interpreter."""
    line = next(ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.startswith("CMD "))
    cmd: list[str] = json.loads(line[4:])
    cmd[cmd.index("--host") + 1] = HOST
    cmd[cmd.index("--port") + 1] = str(port)
    assert cmd[0] == "uvicorn"
    return [sys.executable, "-m", *cmd]


def console_script_cmd(port: int) -> list[str]:
    """cnn-visualizer, i.e. app.main:main, with its own argument parsing."""
    return [sys.executable, "-c", "import sys; from app.main import main; sys.exit(main())",
            "--host", HOST, "--port", str(port)]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """serve(command, **env) -> the base URL of a healthy server; every server is stopped after the test."""
    procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def start(command: Command, **env: str) -> str:
        port = free_port()
        log = tempfile.TemporaryFile()
        proc = subprocess.Popen(command(port), cwd=ROOT, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT)
        procs.append((proc, log))
        url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=url, timeout=2.0, trust_env=False) as client:
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"the server did not start (exit {proc.poll()}):\n{log.read().decode()[-3000:]}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return url
                except httpx.TransportError:
                    time.sleep(0.2)

    yield start
    for proc, log in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()


def assert_served_securely(url: str) -> None:
    with httpx.Client(base_url=url, timeout=10.0, trust_env=False) as client:
        for method, path in [("GET", "/"), ("GET", "/healthz"), ("HEAD", "/healthz"), ("GET", "/nothing")]:
            r = client.request(method, path)
            assert r.status_code == (404 if path == "/nothing" else 200), (method, path)
            assert "server" not in r.headers, (method, path, dict(r.headers))
            assert r.headers["content-security-policy"] == PAGE_POLICY, (method, path)
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "same-origin"


def redirect_location(url: str) -> str:
    """Where the app redirects /healthz/ (a trailing slash) to, asked with FORGED headers: the redirect is built from
    the scheme and host the app believes the request came with."""
    with httpx.Client(base_url=url, timeout=10.0, trust_env=False) as client:
        r = client.get("/healthz/", headers=FORGED)
    assert r.status_code == 307, r.text
    return r.headers["location"]


@pytest.mark.parametrize("cmd", [console_script_cmd, dockerfile_cmd], ids=["cnn-visualizer", "Dockerfile CMD"])
def test_a_real_server_sends_no_server_header_and_ignores_forged_forwarded_headers(serve: Serve, cmd: Command) -> None:
    url = serve(cmd)
    assert_served_securely(url)
    assert redirect_location(url) == f"{url}/healthz"  # http, whatever X-Forwarded-Proto claims


def test_a_real_server_behind_a_trusted_proxy_sees_https(serve: Serve) -> None:
    url = serve(console_script_cmd, CNN_TRUST_PROXY_HEADERS="true")
    assert_served_securely(url)
    assert re.fullmatch(rf"https://{re.escape(HOST)}:\d+/healthz", redirect_location(url))
