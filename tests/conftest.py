"""Fixtures shared by every test package."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, require_redis_server

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST files: $CNN_TEST_MNIST, else ../shared/mnist beside the checkout.

    Absent data skips the test with the reason, except in CI (CI=true), where the data is always there and its
    absence is a failure, never a silent skip.
    """
    path = Path(os.environ.get("CNN_TEST_MNIST", REPO_ROOT.parent / "shared" / "mnist"))
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        message = f"MNIST files not found in {path} (set CNN_TEST_MNIST to the folder that holds them)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of the tests' own (tests.redis_server), shared by the session's tests; each empties the
    database it uses (the `redis_url` fixtures)."""
    require_redis_server()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()
