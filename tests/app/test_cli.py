"""cnn-visualizer's start-up ends with one line that says where to open the page (a wildcard address shown as
127.0.0.1), after uvicorn's own lines, so nothing buries it."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from benchmarks.server import ROOT
from tests.redis_server import free_port


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_start_up_ends_with_the_address_to_open(host: str) -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from app.main import main; sys.exit(main())",
                             "--host", host, "--port", str(port)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("ready:" in line for line in lines):
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip())
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    ready = [line for line in lines if "ready:" in line]
    assert ready == [lines[-1]], lines  # the last line of start-up
    assert f"open http://127.0.0.1:{port} in a browser" in ready[0]
    assert any("Uvicorn running on" in line for line in lines[:-1])
    assert not any("Warning" in line for line in lines), lines
