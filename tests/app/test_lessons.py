"""Lessons: every shipped lesson validates against the schema and the served model; broken ones are refused with a
message naming the file, the card and the field, while the others are still served; the routes answer."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import load_settings
from app.lessons import LessonError, ModelRef, load_lessons, parse_lesson, paths_of
from app.routes.lessons import LESSONS_DIR
from app.services.network import NetworkService
from tests.js.test_node import run_node

SHIPPED = sorted(LESSONS_DIR.glob("*.json"))


@pytest.fixture(scope="module")
def model() -> ModelRef:
    net = NetworkService(load_settings().model_path)
    return ModelRef.of(net.spec, net.summary, net.summary.input_shape)


def lesson(**card: Any) -> dict[str, Any]:
    """A valid one-card lesson, with `card`'s fields replacing the default card's."""
    base = {"title": "δ at the output", "text": "p₃ = {probabilities[3]}.",
            "setup": {"digit": {"sample": 7}, "target": 3, "revealed": 1,
                      "selection": {"layer": "dense3", "part": "delta", "idx": [3]}},
            "question": {"prompt": "δ₃?", "answer": "delta.dense3[3]", "why": "p₃ − 1."}}
    return {"schema": 1, "id": "t", "title": "T", "summary": "S", "cards": [{**base, **card}]}


def refused(data: dict[str, Any], model: ModelRef) -> str:
    with pytest.raises(LessonError) as e:
        parse_lesson(data, model, "t.json")
    return str(e.value)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_every_shipped_lesson_validates(path: Path, model: ModelRef) -> None:
    parsed = parse_lesson(json.loads(path.read_text(encoding="utf-8")), model, path.name)
    assert parsed.cards and all(c.question.answer for c in parsed.cards)


def test_the_shipped_lessons_cover_the_ideas_of_issue_15(model: ModelRef) -> None:
    titles = " | ".join(c["title"].lower() for p in SHIPPED for c in json.loads(p.read_text())["cards"])
    for idea in ("convolution computes", "padding and stride", "stride that does not fit", "relu", "max pooling",
                 "softmax and cross-entropy", "δ at the output", "dense layer", "routing", "through a convolution",
                 "∂e/∂b", "∂e/∂w", "one step", "loss before and after", "vanishing"):
        assert idea in titles, idea
    assert len({json.loads(p.read_text())["id"] for p in SHIPPED}) == len(SHIPPED) >= 3


def test_a_valid_lesson_parses(model: ModelRef) -> None:
    assert parse_lesson(lesson(), model).cards[0].setup.selection is not None


@pytest.mark.parametrize(("change", "expected"), [
    ({"colour": "red"}, 'card 1 ("δ at the output") colour: Extra inputs are not permitted'),
    ({"setup": {"revealed": 1, "selection": {"layer": "conv9", "part": "delta", "idx": [0]}}},
     "card 1 (\"δ at the output\") setup.selection: no layer 'conv9' in the served model"),
    ({"setup": {"revealed": 1, "selection": {"layer": "dense3", "part": "delta", "idx": [10]}}},
     "setup.selection: dense3.delta[10] is out of range: its shape is [10]"),
    ({"question": {"prompt": "?", "answer": "delta.conv2[0,10,4]", "why": "."}, "setup": {"revealed": "all"}},
     "question.answer: delta.conv2[0, 10, 4] is out of range: its shape is [16, 10, 10]"),
    ({"question": {"prompt": "?", "answer": "delta.dense3[3]", "why": "."}, "setup": {}},
     "question.answer: delta.dense3 needs a backward pass"),
    ({"question": {"prompt": "?", "answer": "W.relu1[0]", "why": "."}}, "relu1 (ReLU) has no weights"),
    ({"question": {"prompt": "?", "answer": "model.conv1.strides", "why": "."}},
     "model.conv1.strides: conv1 (Conv2D) has no setting 'strides'"),
    ({"question": {"prompt": "?", "answer": "loss +", "why": "."}}, "'loss +' ends too early"),
    ({"question": {"prompt": "?", "answer": "los", "why": "."}}, "unknown name 'los'"),
    ({"text": "E = {lossy}"}, "text {lossy}: unknown name 'lossy'"),
    ({"setup": {"neuron": {"layer": "pool1", "idx": [0, 0, 0]}}}, "setup.neuron: the neuron inspector shows"),
    ({"setup": {"open": "lab", "lab": {"preset": "tiny", "edit": {"layer": 9, "field": "stride", "value": 3}}}},
     "setup.lab: edit.layer 9: the preset tiny has rows 0…4"),
    ({"setup": {"target": 12}}, "setup.target: 12 is not a class"),
    ({"reveal": {"selection": {"layer": "dense3", "part": "dW", "idx": [3, 84]}}},
     "reveal.selection: dense3.dW[3, 84] is out of range: its shape is [10, 84]"),
])
def test_a_broken_card_is_refused_naming_where(change: dict[str, Any], expected: str, model: ModelRef) -> None:
    message = refused(lesson(**change), model)
    assert message.startswith("t.json: ")
    assert expected in message, message


def test_a_card_without_a_question_is_refused(model: ModelRef) -> None:
    data = lesson()
    del data["cards"][0]["question"]
    assert 'card 1 ("δ at the output") question: Field required' in refused(data, model)


def test_a_wrong_schema_version_is_refused(model: ModelRef) -> None:
    assert refused({**lesson(), "schema": 2}, model) == ("t.json: schema 2 is not supported (this server reads "
                                                         "schema 1)")


def test_expressions_keep_to_their_grammar() -> None:
    assert paths_of("(shape.pool1[2] + 2 * model.conv2.padding - 5) / 1 + 1") == [
        ("shape.pool1", [2]), ("model.conv2.padding", None)]
    assert paths_of("0.25 ^ lab.count.Sigmoid") == [("lab.count.Sigmoid", None)]
    assert paths_of("-1e-3 * -(loss)") == [("loss", None)]
    for bad in ("loss loss", "(loss", "loss)", "loss % 2", "* loss"):
        with pytest.raises(LessonError):
            paths_of(bad)


def test_a_broken_file_is_logged_and_the_others_served(tmp_path: Path, model: ModelRef,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    good = lesson()
    bad = copy.deepcopy(good)
    bad["id"] = "bad"
    bad["cards"][0]["setup"]["selection"]["layer"] = "conv9"
    (tmp_path / "a.json").write_text(json.dumps(good))
    (tmp_path / "b.json").write_text(json.dumps(bad))
    (tmp_path / "c.json").write_text("{not json")
    (tmp_path / "d.json").write_text(json.dumps(good))  # the same id again
    with caplog.at_level(logging.WARNING, logger="cnn_visualizer.lessons"):
        library = load_lessons(tmp_path, model)
    assert list(library.lessons) == ["t"]
    assert set(library.refused) == {"b.json", "c.json", "d.json"}
    assert "no layer 'conv9'" in library.refused["b.json"]
    assert "not readable as JSON" in library.refused["c.json"]
    assert "already used" in library.refused["d.json"]
    assert sum("lesson refused: b.json" in r.getMessage() for r in caplog.records) == 1


def test_the_routes_list_and_serve_the_lessons(client: TestClient) -> None:
    listed = client.get("/api/lessons").json()
    assert [x["id"] for x in listed] == [json.loads(p.read_text())["id"] for p in SHIPPED]
    first = listed[0]
    assert set(first) == {"id", "title", "summary", "cards"} and first["cards"] >= 1
    whole = client.get(f"/api/lessons/{first['id']}").json()
    assert whole["schema"] == 1 and len(whole["cards"]) == first["cards"]
    assert whole["cards"][0]["question"]["answer"]


def test_an_unknown_lesson_is_a_plain_404(client: TestClient) -> None:
    r = client.get("/api/lessons/nope")
    assert r.status_code == 404
    assert r.json() == {"code": "not_found", "detail": "no lesson 'nope'; the lessons are: forward, backward, learning"}


def test_the_pages_expression_reader_in_node(tmp_path: Path) -> None:
    """static/js/lessons/expr.js (the page's half of the answer grammar, the 3 s.f. verdict) in node's test runner."""
    run_node(Path(__file__).resolve().parents[1] / "js" / "lessons.test.mjs", tmp_path)


def test_a_broken_file_never_stops_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              make_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    """The app starts with a broken lesson beside a good one: the good one is served, the broken one logged."""
    (tmp_path / "good.json").write_text(json.dumps(lesson()))
    (tmp_path / "broken.json").write_text(json.dumps({**lesson(), "id": "broken", "schema": 0}))
    monkeypatch.setattr("app.routes.lessons.LESSONS_DIR", tmp_path)
    with caplog.at_level(logging.WARNING, logger="cnn_visualizer.lessons"):
        client = make_client()  # the lifespan reads the lessons
    assert "lesson refused: broken.json: schema 0 is not supported" in caplog.text
    assert [x["id"] for x in client.get("/api/lessons").json()] == ["t"]
    assert client.get("/api/lessons/broken").status_code == 404
    assert client.get("/healthz").status_code == 200
