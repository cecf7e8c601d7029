"""Shared by the ONNX import tests: PyTorch (or a skip that says why, a failure under CI) and exporting with it."""

import io
import os
import warnings
from pathlib import Path

import pytest


def require_torch():
    """torch, with onnxscript for its default exporter; absent, the test skips with the reason, except under CI
    (CI=true), where the bench extra is installed and its absence is a failure, never a silent skip."""
    try:
        import onnxscript  # noqa: F401  (torch.onnx.export's default exporter needs it)
        import torch
    except ImportError as e:
        message = f"PyTorch or onnxscript not installed ({e.name}): pip install -e '.[bench]'"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message, allow_module_level=True)  # also when called at a module's top
    return torch


def export(torch, model, example, path: Path, dynamo: bool, opset: int | None = None) -> Path:
    """model (in eval mode) written to `path` by the default (dynamo=True) or the legacy (dynamo=False) exporter."""
    model.eval()
    kwargs = {} if opset is None else {"opset_version": opset}
    with warnings.catch_warnings(), io.StringIO() as sink:
        warnings.simplefilter("ignore")
        from contextlib import redirect_stdout

        with redirect_stdout(sink):  # the dynamo exporter reports its progress on stdout
            if dynamo:
                program = torch.onnx.export(model, (example,), dynamo=True, verbose=False, **kwargs)
                program.save(str(path))
            else:
                torch.onnx.export(model, (example,), str(path), dynamo=False, **kwargs)
    return path
