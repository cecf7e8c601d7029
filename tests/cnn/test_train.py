"""cnn.train: quick real runs on MNIST, what they write, determinism, Ctrl-C, divergence, and every error a person sees.

Every epoch is scored on the test set, and scoring all 10,000 digits costs seconds; so the runs here read a folder
holding the real training files and the first 1,000 official test digits (tests/cnn/test_evaluate.py and
test_pretrained.py score the full test set).
"""

import gzip
import io
import json
import math
import re
import struct
from collections.abc import Callable
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cnn.train
from cnn.architectures import lenet5
from cnn.data import MNIST_FILES, load_mnist
from cnn.evaluate import evaluate
from cnn.modelfile import load_model, read_model_header
from cnn.spec import build_model
from cnn.train import EpochMetrics, TrainConfig, learning_rate, main, parse_args, train

QUICK = ["--limit", "2000", "--val-size", "200", "--epochs", "2", "--batch-size", "64"]
LEARNED = 0.7  # seed 0 reaches 0.80 on these 1,000 test digits after 2 epochs (0.65 after 1); untrained: ~0.1
STEPS_PER_EPOCH = (640 - 64) // 64  # of small(): 9


def small(data: Path, **changes: Any) -> TrainConfig:
    """640 images, 64 held out, a constant rate: epoch 1 is the same whatever the number of epochs."""
    config = TrainConfig(epochs=1, limit=640, val_size=64, batch_size=64, schedule="constant", data=str(data))
    return replace(config, **changes)


def params(model: Any) -> dict[str, np.ndarray]:
    return {k: v.copy() for k, v in model.named_params().items()}


def assert_same_params(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def small_mnist(mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real training files and the first 1,000 official test digits, as IDX files."""
    folder = tmp_path_factory.mktemp("mnist-small")
    for key in ("train-images", "train-labels"):
        (folder / MNIST_FILES[key].filename).symlink_to(mnist_dir / MNIST_FILES[key].filename)
    images, labels = load_mnist("test", mnist_dir)
    for key, array in (("test-images", images[:1000]), ("test-labels", labels[:1000])):
        header = struct.pack(f">I{array.ndim}I", 0x0800 | array.ndim, *array.shape)
        (folder / MNIST_FILES[key].filename).write_bytes(gzip.compress(header + array.tobytes()))
    return folder


@pytest.fixture(scope="module")
def quick_run(small_mnist: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[str], Path]:
    """A quick run through main: 2,000 images, 2 epochs."""
    out = tmp_path_factory.mktemp("quick") / "runs" / "quick.npz"  # runs/ does not exist yet: main makes it
    argv = ["--data", str(small_mnist), *QUICK, "--out", str(out)]
    return main(argv), argv, out


@pytest.fixture(scope="module")
def one_epoch(small_mnist: Path) -> cnn.train.TrainResult:
    """One epoch with seed 0 and a constant rate, the reference for determinism and for Ctrl-C in epoch 2."""
    return train(small(small_mnist), log=io.StringIO())


def interrupt_at(monkeypatch: pytest.MonkeyPatch, call: int) -> list[int]:
    """Make the training loss raise KeyboardInterrupt at its `call`-th use (1-based), as Ctrl-C would."""
    calls = [0]
    real: Callable[..., Any] = cnn.train.softmax_cross_entropy

    def loss(*args: Any) -> Any:
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(cnn.train, "softmax_cross_entropy", loss)
    return calls


# ------------------------------------------------------------------------------------------ a quick real run


def test_a_quick_run_writes_the_model_and_its_metrics_beside_it(quick_run: tuple[int, list[str], Path]) -> None:
    code, argv, out = quick_run
    assert code == 0
    assert out.is_file()
    metrics = json.loads(out.with_name("quick.metrics.json").read_text())
    assert metrics["command"] == "python -m cnn.train " + " ".join(argv)
    assert metrics["config"] == {**vars(TrainConfig()), "limit": 2000, "val_size": 200, "epochs": 2,
                                 "batch_size": 64, "out": str(out), "data": argv[1]}
    assert metrics["interrupted"] is False
    assert metrics["epochs_completed"] == 2
    history = metrics["history"]
    assert [set(h) for h in history] == [{f.name for f in fields(EpochMetrics)}] * 2
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(h["val_accuracy"] is not None for h in history)
    assert metrics["test_accuracy"] == history[-1]["test_accuracy"]
    # The model file carries the same summary, minus the per-epoch history.
    assert read_model_header(out)["metadata"] == {k: v for k, v in metrics.items() if k != "history"}


def test_a_quick_run_learns(quick_run: tuple[int, list[str], Path], small_mnist: Path) -> None:
    _, _, out = quick_run
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    first, second = metrics["history"]
    assert second["train_loss"] < first["train_loss"] < math.log(10)
    assert metrics["test_accuracy"] > LEARNED
    # The saved weights, not just the log, read digits; the same network untrained does not pass the bar.
    images, labels = load_mnist("test", small_mnist)
    assert evaluate(load_model(out), images, labels).accuracy > LEARNED
    untrained = build_model(lenet5("float32"), np.random.default_rng(0))
    assert evaluate(untrained, images, labels).accuracy < 0.3


# ------------------------------------------------------------------------------------------------ determinism


def test_the_same_seed_gives_bit_identical_weights(one_epoch: cnn.train.TrainResult, small_mnist: Path) -> None:
    again = train(small(small_mnist), log=io.StringIO())
    assert_same_params(params(again.model), params(one_epoch.model))
    assert again.history[0].train_loss == one_epoch.history[0].train_loss


def test_another_seed_gives_other_weights(one_epoch: cnn.train.TrainResult, small_mnist: Path) -> None:
    other = train(small(small_mnist, seed=1), log=io.StringIO())
    reference = params(one_epoch.model)
    for name, value in params(other.model).items():
        assert not np.array_equal(value, reference[name]), name


def test_no_augment_trains_on_the_images_as_they_are(
    small_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    monkeypatch.setattr(cnn.train, "augment", lambda *args: calls.append(args))
    out = tmp_path / "plain.npz"
    argv = ["--data", str(small_mnist), "--limit", "500", "--val-size", "0", "--epochs", "1", "--no-augment"]
    assert main([*argv, "--out", str(out)]) == 0
    assert calls == []
    assert read_model_header(out)["metadata"]["config"]["augment"] is False


# ----------------------------------------------------------------------------------------------------- Ctrl-C


def test_ctrl_c_in_epoch_2_saves_epoch_1(
    one_epoch: cnn.train.TrainResult, small_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls = interrupt_at(monkeypatch, STEPS_PER_EPOCH + 4)  # the 4th step of epoch 2
    out = tmp_path / "interrupted.npz"
    argv = ["--data", str(small_mnist), "--limit", "640", "--val-size", "64", "--schedule", "constant",
            "--epochs", "2", "--out", str(out)]
    assert main(argv) == 130
    assert calls[0] == STEPS_PER_EPOCH + 4
    # With a constant rate, epoch 1 of a 2-epoch run is exactly the 1-epoch run with the same seed.
    assert_same_params(params(load_model(out)), params(one_epoch.model))
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["interrupted"] is True
    assert metrics["epochs_completed"] == 1
    assert len(metrics["history"]) == 1
    assert metrics["test_accuracy"] == one_epoch.history[0].test_accuracy
    assert "interrupted; saved the last completed epoch" in capsys.readouterr().err


def test_ctrl_c_in_epoch_1_saves_nothing(
    small_mnist: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    interrupt_at(monkeypatch, 3)
    argv = ["--data", str(small_mnist), "--limit", "640", "--val-size", "64", "--epochs", "2"]
    assert main([*argv, "--out", str(tmp_path / "runs" / "never.npz")]) == 130
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err
    assert "interrupted before the first epoch finished: nothing saved" in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------------- divergence


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_a_learning_rate_that_blows_up_stops_with_exit_1_and_saves_nothing(
    small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--data", str(small_mnist), "--limit", "500", "--val-size", "0", "--epochs", "2", "--lr", "1e6"]
    assert main([*argv, "--out", str(tmp_path / "runs" / "diverged.npz")]) == 1
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err
    [line] = error_lines(err)
    pattern = (r"error: training diverged in epoch 1 \(loss (nan|inf)\)"
               r" at learning rate \d+; try a smaller --lr than 1e\+06")
    assert re.fullmatch(pattern, line), line
    assert "Traceback" not in err


# ------------------------------------------------------------------------------------------------------ specs


def test_a_json_spec_file_trains_that_network(small_mnist: Path, tmp_path: Path) -> None:
    spec = {"name": "softmax-regression", "input_shape": [1, 28, 28], "dtype": "float64",
            "layers": [{"type": "Flatten"}, {"type": "Dense", "out_features": 10}]}
    (tmp_path / "tiny.json").write_text(json.dumps(spec))
    out = tmp_path / "tiny.npz"
    argv = ["--spec", str(tmp_path / "tiny.json"), "--data", str(small_mnist), "--limit", "1000", "--val-size", "0",
            "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    header = read_model_header(out)
    assert [layer["type"] for layer in header["spec"]["layers"]] == ["Flatten", "Dense"]
    assert header["spec"]["dtype"] == "float32"  # --dtype (default float32) overrides the file's
    assert {k: v.shape for k, v in load_model(out).named_params().items()} == {
        "dense1.W": (10, 784), "dense1.b": (10,)
    }
    assert header["metadata"]["test_accuracy"] > 0.5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "is neither a known spec (lenet5, vgg16) nor a JSON file"),
        ('{"input_shape": [1, 28, 28], "layers": [', ": not valid JSON: "),
        (b"\xff\xfe{", ": not valid JSON: "),
        ("[1, 2]", ": a spec is a JSON object with input_shape and layers"),
        ('{"input_shape": [1, 28, 28], "layers": [{"type": "Conv9D"}]}', "unknown layer type 'Conv9D'"),
        ('{"input_shape": [1, 28, 28], "layers": [{"type": "Flatten"}, {"type": "Dense"}]}', "missing arguments"),
        ('{"input_shape": [1, 28, 28], "layers": [{"type": "Dense", "out_features": 10}]}', "put a Flatten layer"),
    ],
    ids=["missing", "truncated", "not-utf8", "not-an-object", "unknown-layer", "missing-argument", "shape"],
)
def test_a_bad_spec_file_exits_2_with_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | bytes | None, message: str
) -> None:
    path = tmp_path / "spec.json"
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    assert main(["--spec", str(path), "--out", str(tmp_path / "never.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    if content is None or "JSON" in message:
        assert str(path) in err  # the file is named when the file itself is the problem
    assert not (tmp_path / "never.npz").exists()


# ------------------------------------------------------------------------------------------- the command line


def test_no_arguments_give_the_documented_defaults() -> None:
    assert parse_args([]) == TrainConfig()
    assert parse_args(["--no-augment", "--lr", "0.1", "--limit", "5"]) == TrainConfig(augment=False, lr=0.1, limit=5)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "--epochs must be at least 1"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
        (["--val-size", "-1"], "--val-size must be 0 or more"),
        (["--schedule", "linear"], "invalid choice: 'linear'"),
        (["--epochs", "two"], "invalid int value: 'two'"),
    ],
)
def test_parse_args_rejects_impossible_values(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_parse_args_rejects_a_limit_below_1(limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    # `--limit 0` means "no limit" to _split (`if config.limit:`) and `--limit -1` keeps all but one image
    # (order[:-1]): either way a "quick run" silently becomes a full-size training.
    with pytest.raises(SystemExit) as exc:
        parse_args(["--limit", limit])
    assert exc.value.code == 2
    assert "--limit must be at least 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--val-size", "60000"], "--val-size 60000 leaves 0 of 60000 images for training, fewer than one batch of 64"),
        (["--limit", "2000"], "--val-size 5000 leaves 0 of 2000 images for training, fewer than one batch of 64"),
        (["--limit", "1000", "--val-size", "950"],
         "--val-size 950 leaves 50 of 1000 images for training, fewer than one batch of 64"),
    ],
    ids=["val-size-is-all", "limit-below-default-val-size", "less-than-a-batch"],
)
def test_a_validation_split_that_leaves_no_batch_exits_2(
    argv: list[str], message: str, small_mnist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--data", str(small_mnist), "--out", str(tmp_path / "never.npz")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {message}: lower --val-size or raise --limit\n"


def test_missing_data_exits_2_naming_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "never.npz")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: MNIST files missing from {tmp_path / 'nowhere'} (the folder does not exist)")
    assert err.count("\n") == 1


# ------------------------------------------------------------------------------------------------ the schedule


def test_cosine_warms_up_linearly_peaks_at_lr_and_decays_to_near_zero() -> None:
    config = TrainConfig(lr=0.1, schedule="cosine")
    total = 1000
    rates = np.array([learning_rate(config, step, total) for step in range(total)])
    warmup = total // 50
    np.testing.assert_allclose(rates[:warmup], 0.1 * np.arange(1, warmup + 1) / warmup, rtol=1e-12)
    assert rates.max() == pytest.approx(0.1, rel=1e-12)
    assert rates[warmup - 1] == rates[warmup] == pytest.approx(0.1, rel=1e-12)
    assert np.all(np.diff(rates[warmup:]) < 0)  # strictly falling after the warm-up
    assert rates[total // 2 + warmup // 2] == pytest.approx(0.05, rel=1e-2)  # half way down at the half-way point
    assert 0 < rates[-1] < 1e-5 * 0.1


def test_a_short_run_still_starts_at_a_positive_rate() -> None:
    config = TrainConfig(lr=0.1)
    assert learning_rate(config, 0, 10) == pytest.approx(0.1)  # warm-up of one step: the peak at once
    assert all(0 < learning_rate(config, step, 10) <= 0.1 for step in range(10))


def test_constant_stays_constant() -> None:
    config = TrainConfig(lr=0.03, schedule="constant")
    assert {learning_rate(config, step, 500) for step in range(500)} == {0.03}
