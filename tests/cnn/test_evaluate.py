"""cnn.evaluate: batched prediction, the bookkeeping of an evaluation, the report, and the command line's errors."""

import json
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cnn.evaluate
from cnn.architectures import lenet5
from cnn.data import load_mnist, to_inputs
from cnn.evaluate import Evaluation, Mistake, evaluate, format_report, main, predict
from cnn.losses import softmax, softmax_cross_entropy
from cnn.model import Sequential
from cnn.modelfile import save_model
from cnn.optim import SGD
from cnn.spec import build_model

KEYS = {"accuracy", "correct", "total", "confusion", "most_confident_mistakes"}


@pytest.fixture(scope="module")
def test_set(mnist_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first 2,000 official test digits and their labels."""
    images, labels = load_mnist("test", mnist_dir)
    return images[:2000], labels[:2000]


@pytest.fixture(scope="module")
def half_trained(mnist_dir: Path) -> Sequential:
    """LeNet-5 after 20 SGD steps on 1,280 digits: right on many, wrong on many, a real mix to count."""
    images, labels = load_mnist("train", mnist_dir)
    x = to_inputs(images[:1280])
    model = build_model(lenet5("float32"), np.random.default_rng(0))
    opt = SGD(0.05, momentum=0.9)
    for i in range(20):
        batch = slice(64 * i, 64 * (i + 1))
        _, dlogits = softmax_cross_entropy(model.forward(x[batch], train=True), labels[batch])
        model.backward_params(dlogits)
        opt.step(model)
    return model


@pytest.fixture(scope="module")
def result(half_trained: Sequential, test_set: tuple[np.ndarray, np.ndarray]) -> Evaluation:
    return evaluate(half_trained, *test_set)


@pytest.fixture(scope="module")
def probs(half_trained: Sequential, test_set: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    return softmax(half_trained.forward(to_inputs(test_set[0])))


@pytest.fixture
def untrained_path(tmp_path: Path) -> Path:
    return save_model(tmp_path / "untrained.npz", build_model(lenet5("float32"), np.random.default_rng(0)))


# ---------------------------------------------------------------------------------------------------- predict


def test_predict_in_batches_equals_one_forward_pass() -> None:
    model = build_model(lenet5("float64"), np.random.default_rng(1))
    x = np.random.default_rng(2).random((37, 1, 28, 28))
    whole = softmax(model.forward(x))
    for batch_size in (1, 5, 36, 37, 500):
        np.testing.assert_allclose(predict(model, x, batch_size), whole, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(whole.sum(axis=1), 1.0, rtol=1e-12)


def test_predict_runs_in_evaluation_mode() -> None:
    spec = {"input_shape": [1, 28, 28], "dtype": "float64",
            "layers": [{"type": "Flatten"}, {"type": "Dropout", "p": 0.5}, {"type": "Dense", "out_features": 10}]}
    model = build_model(spec, np.random.default_rng(0))
    x = np.random.default_rng(1).random((12, 1, 28, 28))
    first = predict(model, x, batch_size=5)
    np.testing.assert_array_equal(predict(model, x, batch_size=5), first)  # no dropout mask drawn
    np.testing.assert_allclose(first, softmax(model.forward(x, train=False)), rtol=1e-12)


# --------------------------------------------------------------------------------------------------- evaluate


def test_the_model_under_test_gets_some_right_and_some_wrong(result: Evaluation) -> None:
    assert 0.3 < result.accuracy < 0.95


def test_the_counts_add_up(result: Evaluation, probs: np.ndarray, test_set: tuple[np.ndarray, np.ndarray]) -> None:
    labels = test_set[1]
    predicted = probs.argmax(axis=1)
    confusion = np.array(result.confusion)
    assert confusion.shape == (10, 10)
    assert result.total == len(labels) == confusion.sum()
    assert result.correct == np.trace(confusion) == (predicted == labels).sum()
    assert result.accuracy == result.correct / result.total
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(labels, minlength=10))  # rows: true digit
    np.testing.assert_array_equal(confusion.sum(axis=0), np.bincount(predicted, minlength=10))  # columns: predicted
    assert confusion[3, 5] == np.sum((labels == 3) & (predicted == 5))


def test_mistakes_are_wrong_and_the_most_confident_first(
    result: Evaluation, probs: np.ndarray, test_set: tuple[np.ndarray, np.ndarray]
) -> None:
    labels = test_set[1]
    mistakes = result.most_confident_mistakes
    assert len(mistakes) == 10
    for m in mistakes:
        assert m.label == labels[m.index] != m.predicted == probs[m.index].argmax()
        assert m.confidence == pytest.approx(probs[m.index].max(), rel=1e-6)
    confidences = [m.confidence for m in mistakes]
    assert confidences == sorted(confidences, reverse=True)
    wrong = probs.argmax(axis=1) != labels
    assert confidences[-1] == pytest.approx(np.sort(probs[wrong].max(axis=1))[-10], rel=1e-6)  # none better missed


def test_top_limits_the_mistakes(half_trained: Sequential, test_set: tuple[np.ndarray, np.ndarray],
                                 result: Evaluation) -> None:
    assert evaluate(half_trained, *test_set, top=3).most_confident_mistakes == result.most_confident_mistakes[:3]
    assert evaluate(half_trained, *test_set, top=0).most_confident_mistakes == []


def test_a_perfect_model_has_no_mistakes_and_a_diagonal_matrix(test_set: tuple[np.ndarray, np.ndarray]) -> None:
    class Oracle(Sequential):
        """Answers from the labels it was given: every prediction right."""

        def __init__(self, labels: np.ndarray) -> None:
            self.labels, self.seen, self.dtype = labels, 0, np.dtype(np.float32)

        def forward(self, x: np.ndarray, train: bool = False) -> np.ndarray:
            logits = np.eye(10)[self.labels[self.seen : self.seen + len(x)]] * 10
            self.seen += len(x)
            return logits

    ev = evaluate(Oracle(test_set[1]), *test_set)
    assert (ev.accuracy, ev.correct, ev.most_confident_mistakes) == (1.0, 2000, [])
    np.testing.assert_array_equal(np.diag(ev.confusion), np.bincount(test_set[1], minlength=10))


# ------------------------------------------------------------------------------------------------------ report


def test_the_report_shows_the_accuracy_the_matrix_and_the_mistakes(result: Evaluation) -> None:
    report = format_report(result)
    lines = report.splitlines()
    assert lines[0] == f"test accuracy: {100 * result.accuracy:.4f}% ({result.correct:,} of {result.total:,})"
    header = lines.index("confusion matrix (rows: true digit, columns: predicted)")
    assert lines[header + 1].split() == [str(k) for k in range(10)]
    rows = [[int(n) for n in line.split()] for line in lines[header + 2 : header + 12]]
    assert [row[0] for row in rows] == list(range(10))
    assert [row[1:] for row in rows] == result.confusion
    listed = [re.fullmatch(r"  #(\d+) +(\d) → (\d)  (\d\.\d{3})", line) for line in lines[-10:]]
    assert all(listed), lines[-10:]
    assert [(int(m[1]), int(m[2]), int(m[3])) for m in listed if m] == [
        (m.index, m.label, m.predicted) for m in result.most_confident_mistakes
    ]


# -------------------------------------------------------------------------------------------- the command line


def test_main_prints_the_evaluation_as_json(
    untrained_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(untrained_path), "--data", str(mnist_dir), "--json", "--top", "4"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == KEYS
    assert data["total"] == 10_000 == np.sum(data["confusion"])
    assert data["correct"] == np.trace(data["confusion"])
    assert data["accuracy"] == data["correct"] / data["total"]
    assert len(data["most_confident_mistakes"]) == 4
    assert set(data["most_confident_mistakes"][0]) == {"index", "label", "predicted", "confidence"}


def test_main_prints_the_report_by_default(
    half_trained: Sequential, test_set: tuple[np.ndarray, np.ndarray], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    # Scoring all 10,000 digits once (above) is enough; here the first 2,000 stand in for the test split.
    asked: list[tuple[Any, ...]] = []

    def load_mnist(*args: Any) -> tuple[np.ndarray, np.ndarray]:
        asked.append(args)
        return test_set

    monkeypatch.setattr(cnn.evaluate, "load_mnist", load_mnist)
    path = save_model(tmp_path / "half.npz", half_trained)
    assert main([str(path), "--data", "somewhere"]) == 0
    assert asked == [("test", "somewhere")]
    assert capsys.readouterr().out == format_report(evaluate(half_trained, *test_set)) + "\n"


def test_main_defaults_to_the_pretrained_model(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []

    def load_model(path: Path) -> Sequential:
        opened.append(path)
        raise cnn.evaluate.ModelFileError("stop here")

    monkeypatch.setattr(cnn.evaluate, "load_model", load_model)
    assert main([]) == 2
    assert opened == [cnn.evaluate.PRETRAINED_PATH]


def write_npz(path: Path, **arrays: Any) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


BAD_MODELS = {
    "missing": (None, "no such model file"),
    "empty": (b"", "not a readable model file"),
    "text": (b"<html>404 not found</html>", "not a readable model file"),  # not "refused to load: ... pickled"
    "npy-not-npz": (lambda p: np.save(p.open("wb"), np.zeros(3)), "not a readable model file"),
    "no-header": (lambda p: write_npz(p, weights=np.zeros(3)), "not a cnn-visualizer model (it has no header)"),
    "header-not-json": (lambda p: write_npz(p, header=np.array("{oops")), "the model header is not valid JSON"),
    "header-a-list": (lambda p: write_npz(p, header=np.array("[1, 2]")), "not a cnn-visualizer model"),
    "pickled": (lambda p: write_npz(p, header=np.array([{}], dtype=object)), "refused to load"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_a_missing_or_damaged_model_exits_2_with_one_error_line(
    case: str, tmp_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, message = BAD_MODELS[case]
    path = tmp_path / "model.npz"
    if isinstance(make, bytes):
        path.write_bytes(make)
    elif make is not None:
        make(path)
    assert main([str(path), "--data", str(mnist_dir)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: {path}: ") and captured.err.count("\n") == 1, captured.err
    assert message in captured.err


def test_a_truncated_model_exits_2(untrained_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = untrained_path.read_bytes()
    untrained_path.write_bytes(data[: len(data) // 2])
    assert main([str(untrained_path), "--data", str(mnist_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {untrained_path}: not a readable model file") and err.count("\n") == 1


@pytest.mark.parametrize(
    ("input_shape", "classes", "shown"),
    [([1, 32, 32], 10, "(1, 32, 32)"), ([1, 28, 28], 5, "(5,)")],
    ids=["other-input-shape", "five-classes"],
)
def test_a_model_that_is_not_for_mnist_digits_exits_2(
    input_shape: list[int], classes: int, shown: str, tmp_path: Path, mnist_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = {"input_shape": input_shape, "layers": [{"type": "Flatten"}, {"type": "Dense", "out_features": classes}]}
    path = save_model(tmp_path / "other.npz", build_model(spec, np.random.default_rng(0)))
    assert main([str(path), "--data", str(mnist_dir)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and err.count("\n") == 1, err
    assert shown in err


def test_missing_data_exits_2(untrained_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(untrained_path), "--data", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: MNIST files missing from {tmp_path / 'nowhere'}") and err.count("\n") == 1


def test_mistake_and_evaluation_are_plain_data() -> None:
    ev = Evaluation(0.5, 1, 2, [[1, 0], [1, 0]], [Mistake(1, 1, 0, 0.75)])
    assert json.loads(json.dumps(asdict(ev)))["most_confident_mistakes"][0]["confidence"] == 0.75
