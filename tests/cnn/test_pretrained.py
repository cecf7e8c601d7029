"""The shipped model cnn/pretrained/lenet5.npz: it loads, it is small, it is LeNet-5, and it reads digits as well as
its own metadata (and so the README) says, measured here on the 10,000 official test digits."""

import os
from pathlib import Path

import numpy as np
import pytest

from cnn.architectures import lenet5
from cnn.data import load_mnist
from cnn.evaluate import Evaluation, evaluate
from cnn.model import Sequential
from cnn.modelfile import read_model_header
from cnn.pretrained import PRETRAINED_PATH, load_pretrained
from cnn.spec import build_model


@pytest.fixture(scope="module")
def model() -> Sequential:
    assert PRETRAINED_PATH.is_file(), f"{PRETRAINED_PATH} is missing: the package must ship its pretrained model"
    return load_pretrained()


@pytest.fixture(scope="module")
def scored(model: Sequential, mnist_dir: Path) -> Evaluation:
    return evaluate(model, *load_mnist("test", mnist_dir))


def test_it_is_inside_the_package_and_under_1_mb(model: Sequential) -> None:
    assert PRETRAINED_PATH.parent == Path(__file__).resolve().parents[2] / "cnn" / "pretrained"
    assert os.path.getsize(PRETRAINED_PATH) < 1_000_000


def test_it_is_lenet5(model: Sequential) -> None:
    reference = build_model(lenet5(str(model.dtype)), np.random.default_rng(0))
    assert model.names == reference.names
    assert [layer["type"] for layer in model.spec()["layers"]] == [layer["type"] for layer in lenet5()["layers"]]
    assert model.spec() == reference.spec()
    assert {k: v.shape for k, v in model.named_params().items()} == {
        k: v.shape for k, v in reference.named_params().items()
    }
    assert model.input_shape == (1, 28, 28) and model.output_shape == (10,)


def test_it_reads_99_percent_of_the_official_test_digits(scored: Evaluation) -> None:
    assert scored.total == 10_000
    assert scored.accuracy >= 0.99


def test_its_metadata_records_the_command_and_the_accuracy_measured_here(scored: Evaluation) -> None:
    metadata = read_model_header(PRETRAINED_PATH)["metadata"]
    assert metadata["command"].startswith("python -m cnn.train ")
    assert metadata["config"]["spec"] == "lenet5"
    assert metadata["interrupted"] is False
    assert metadata["epochs_completed"] == metadata["config"]["epochs"]
    # The figure in the README is this number: the file's own record of its test accuracy, reproduced exactly.
    assert metadata["test_accuracy"] == pytest.approx(scored.accuracy, abs=1e-9)
