"""The page's pure helpers (static/js/lib) held to the server and the engine, in node's built-in test runner.

Each test writes its fixtures (tests/js/fixtures.py: made now by app.services, Pillow and cnn) into a temporary
folder and runs `node --test` on one tests/js/*.test.mjs, which imports the lib modules exactly as the page does and
compares. A node failure fails the test with node's report. Without node the tests fail and say how to get it: the
numbers the page computes are not optional.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.js import fixtures

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
NODE = os.environ.get("CNN_TEST_NODE") or shutil.which("node")
TIMEOUT_SECONDS = 300  # the machine may be small and shared; node itself takes about a second


def run_node(test_file: Path, fixture_dir: Path) -> str:
    """`node --test test_file` with CNN_JS_FIXTURES=fixture_dir; node's report, or a failed test carrying it."""
    if NODE is None:
        pytest.fail("node is not installed, and the page's JavaScript helpers are tested with it: install Node.js "
                    "≥ 18.15 (Debian: apt-get install nodejs) or point CNN_TEST_NODE at a node binary.")
    result = subprocess.run(
        [NODE, "--test", "--test-reporter=spec", str(test_file)],
        env={**os.environ, "CNN_JS_FIXTURES": str(fixture_dir)},
        capture_output=True, text=True, timeout=TIMEOUT_SECONDS, cwd=HERE,
    )
    report = result.stdout + result.stderr
    if result.returncode != 0:
        pytest.fail(f"node --test {test_file.name} failed (exit {result.returncode}):\n{report}", pytrace=False)
    return report


# tests/js/<suite>.test.mjs reads <suite>.json, made by (None: the suite needs no fixtures):
SUITES: dict[str, Callable[[], dict[str, Any]] | None] = {
    "preprocess": fixtures.preprocess_fixtures,
    "resample": fixtures.resample_fixtures,
    "backprop": fixtures.engine_fixtures,
    "seed": fixtures.seed_fixtures,
    "colors": fixtures.engine_fixtures,
    "tensor": fixtures.tensor_fixtures,
    "layout": None,
    "format": None,
    "viewcode": None,
}


@pytest.mark.parametrize("suite", list(SUITES))
def test_node_suite(suite: str, tmp_path: Path) -> None:
    """tests/js/<suite>.test.mjs passes against <suite>.json, written here from the server's and the engine's code."""
    make = SUITES[suite]
    if make is not None:
        (tmp_path / f"{suite}.json").write_text(json.dumps(make()))
    report = run_node(HERE / f"{suite}.test.mjs", tmp_path)
    log.info("%s", report)  # the measured differences: pytest -o log_cli=true -o log_cli_level=INFO shows them


def test_missing_node_fails_with_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(globals(), "NODE", None)
    with pytest.raises(pytest.fail.Exception, match=r"node is not installed.*apt-get install nodejs"):
        run_node(HERE / "tensor.test.mjs", tmp_path)
