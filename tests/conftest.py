"""Fixtures shared by every test package."""

import os
from pathlib import Path

import pytest

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
