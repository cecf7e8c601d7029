"""Fixtures for the browser tests: the app served by uvicorn on a free port, Debian's Chromium driven by Playwright,
and a fresh page per test that fails the test on any console error or uncaught exception.

    server_url   session: "http://127.0.0.1:<port>", the server started in a subprocess, always terminated
    browser      session: headless Chromium (CNN_TEST_CHROMIUM, default /usr/bin/chromium)
    new_page     new_page(width=1280, height=800, touch=False) -> a page in its own context (own cookie, own tab)
    page         new_page() at 1280×800, already on the app, a digit predicted
    console      what the pages of this test logged; console.allow(r"status of 422") accepts expected errors

Chromium logs every 4xx/5xx response as a console error ("Failed to load resource: ... status of 422"): a test of
an error path allows that line with console.allow(...).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
MNIST_DIR = Path(os.environ.get("CNN_TEST_MNIST", REPO_ROOT.parent / "shared" / "mnist"))
CHROMIUM = Path(os.environ.get("CNN_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STARTUP_SECONDS = 60
# expect(...) waits up to 10 s, not Playwright's 5 s: the machine the suite runs on may be small and shared.
expect.set_options(timeout=10_000)


def _missing(message: str) -> None:
    """Skip with the reason, except in CI, where a missing browser is a failure, never a silent skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """uvicorn app.main:app on 127.0.0.1 and a free port, in a subprocess; its log goes to a file shown on failure."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("server") / "uvicorn.log"
    # The training lab reads MNIST from CNN_DATA_DIR (tests/conftest.py's mnist_dir rule); without it the lab's
    # tests skip and the rest of the page works.
    env = {**os.environ, "CNN_DATA_DIR": str(MNIST_DIR)} if (MNIST_DIR / "t10k-images-idx3-ubyte.gz").exists() \
        else dict(os.environ)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(port),
             "--no-server-header", "--no-proxy-headers"],  # as the Dockerfile starts it
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start (exit code {proc.poll()}):\n{log_path.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        _missing(f"Chromium not found at {CHROMIUM} (set CNN_TEST_CHROMIUM to its path)")
    browser = playwright_instance.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


class ConsoleLog:
    """Console errors and uncaught exceptions of the pages of one test."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.allowed: list[re.Pattern[str]] = []

    def allow(self, pattern: str) -> None:
        """Accept console errors matching `pattern` (a regex) in this test, e.g. r"status of 422"."""
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} ({message.location.get('url', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught exception: {error}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> ConsoleLog:
    return ConsoleLog()


@pytest.fixture
def new_page(browser: Browser, console: ConsoleLog) -> Iterator[Callable[..., Page]]:
    """A factory of pages, each in a fresh context (its own cookie and sessionStorage: its own session on the server).
    The test fails afterwards if any of them logged an unexpected console error."""
    contexts = []

    def make(width: int = 1280, height: int = 800, touch: bool = False, scale: float = 1) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height}, has_touch=touch,
                                      is_mobile=touch, device_scale_factor=scale)
        contexts.append(context)
        page = context.new_page()
        page.on("console", console.on_console)
        page.on("pageerror", console.on_page_error)
        return page

    yield make
    for context in contexts:
        context.close()
    unexpected = console.unexpected()
    if unexpected:
        pytest.fail("the page logged errors:\n" + "\n".join(unexpected))


def wait_for_prediction(page: Page, timeout: float = 15_000) -> int:
    """Wait until the page shows a prediction and return it."""
    # A function, not a bare expression: Playwright evals a bare expression again at every poll, which the page's
    # Content-Security-Policy (no 'unsafe-eval') refuses; a function is evaluated once and then called.
    page.wait_for_function("() => document.querySelector('[data-testid=prediction]')?.dataset.value",
                           timeout=timeout)
    return int(page.get_by_test_id("prediction").get_attribute("data-value") or "-1")


@pytest.fixture
def page(new_page: Callable[..., Page], server_url: str) -> Page:
    """The app at 1280×800 with its sample digit already through the network."""
    p = new_page()
    p.goto(server_url)
    wait_for_prediction(p)
    return p
