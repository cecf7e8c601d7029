"""WS /ws (app/routes/ws.py): forward, backward and update passes streamed one layer at a time, paced by next/run,
and a new command replacing a pass being stepped through. Bad commands and sessions are in test_ws_errors.py.

The messages of a pass must carry what the REST API answers for the same image: the REST responses are the reference.
Helpers are in ws_helpers.py; the fixtures seven, ws and model_layers in conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tests.app.conftest import data_url
from tests.app.wire import decode_frame, decode_json
from tests.app.ws_helpers import (
    PASSES,
    WEIGHTED,
    assert_nothing_pending,
    expect_error,
    receive,
    receive_raw,
    run_pass,
    send,
    step_pass,
    upload,
)

# ------------------------------------------------------------------------------------------------------ forward


def test_forward_run_sends_start_every_layer_in_order_then_the_rest_apis_prediction(
    client: TestClient, ws: WebSocketTestSession, seven: bytes, model_layers: list[dict[str, Any]]
) -> None:
    rest = client.post("/api/forward", **upload(seven))
    assert rest.status_code == 200, rest.text
    rest_body = rest.json()

    send(ws, "forward", image=data_url(seven), mode="run")
    frames = []
    while True:
        raw = receive_raw(ws)
        frames.append(raw)
        if raw.get("text") is not None and json.loads(raw["text"])["type"] == "done":
            break
    messages = [decode_frame(f["bytes"]) if f.get("bytes") is not None else json.loads(f["text"]) for f in frames]
    start, layers, done = messages[0], messages[1:-1], messages[-1]

    assert start["type"] == "start" and start["phase"] == "forward" and start["layers"] == 12
    assert start["input"].shape == (28, 28)
    np.testing.assert_array_equal(start["input"], decode_json(rest_body["input"]))
    assert len(layers) == 12
    for i, (layer, row, rest_layer) in enumerate(zip(layers, model_layers, rest_body["layers"], strict=True)):
        assert layer["type"] == "layer" and layer["phase"] == "forward"
        assert (layer["index"], layer["name"], layer["kind"]) == (i, row["name"], row["kind"])
        assert layer["remaining"] == 11 - i
        assert layer["output"].shape == tuple(row["output_shape"]) and layer["output_shape"] == row["output_shape"]
        np.testing.assert_array_equal(layer["output"], decode_json(rest_layer["output"]))
    # Arrays travel in binary frames, the rest as JSON text.
    assert all(f.get("bytes") is not None for f in frames[:-1]) and frames[-1].get("bytes") is None

    assert done == {"type": "done", "phase": "forward"}
    assert start["prediction"] == rest_body["prediction"] == int(np.argmax(start["probabilities"]))
    assert sum(start["probabilities"]) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(start["probabilities"], rest_body["probabilities"], rtol=0, atol=1e-12)
    assert_nothing_pending(ws)


def test_forward_step_sends_start_and_one_layer_then_one_per_next_and_the_rest_on_run(
    ws: WebSocketTestSession, seven: bytes
) -> None:
    send(ws, "forward", image=data_url(seven), mode="step")
    start = receive(ws)
    assert (start["type"], start["phase"], start["layers"]) == ("start", "forward", 12)
    first = receive(ws)
    assert (first["type"], first["index"], first["remaining"]) == ("layer", 0, 11)
    for index in (1, 2, 3):
        send(ws, "next")  # answered with layer `index`: so nothing beyond the previous layer had been sent
        layer = receive(ws)
        assert (layer["type"], layer["index"], layer["remaining"]) == ("layer", index, 11 - index)
    send(ws, "run")
    rest = [receive(ws) for _ in range(9)]
    assert [m["type"] for m in rest] == ["layer"] * 8 + ["done"]
    assert [m["index"] for m in rest[:-1]] == list(range(4, 12))
    assert rest[-1] == {"type": "done", "phase": "forward"} and len(start["probabilities"]) == 10

    assert_nothing_pending(ws)
    send(ws, "run")
    expect_error(ws, "nothing_pending", "run")
    _, layers, done = run_pass(ws, "forward", image=data_url(seven))  # still usable
    assert len(layers) == 12 and done["phase"] == "forward"


def test_the_last_next_brings_the_last_layer_and_done_and_the_results_match_mode_run(
    ws: WebSocketTestSession, seven: bytes
) -> None:
    stepped_start, stepped, stepped_done = step_pass(ws, "forward", image=data_url(seven))
    assert [m["index"] for m in stepped] == list(range(12))
    assert_nothing_pending(ws)
    ran_start, ran, ran_done = run_pass(ws, "forward", image=data_url(seven))
    for a, b in zip(stepped, ran, strict=True):
        np.testing.assert_array_equal(a["output"], b["output"])
    assert stepped_done == ran_done
    assert stepped_start["probabilities"] == ran_start["probabilities"]


def test_next_or_run_before_any_pass_is_refused_in_plain_words(ws: WebSocketTestSession, seven: bytes) -> None:
    for cmd in ("next", "run"):
        send(ws, cmd)
        expect_error(ws, "nothing_pending", cmd, "forward")
    assert run_pass(ws, "forward", image=data_url(seven))[0]["phase"] == "forward"


# ----------------------------------------------------------------------------------------------------- backward


@pytest.mark.parametrize("mode", ["run", "step"])
def test_backward_goes_from_the_last_layer_to_the_first_as_the_rest_api_does(
    client: TestClient, ws: WebSocketTestSession, seven: bytes, model_layers: list[dict[str, Any]], mode: str
) -> None:
    assert client.post("/api/forward", **upload(seven)).status_code == 200
    rest = client.post("/api/backward", json={"target": 3})
    assert rest.status_code == 200, rest.text
    rest_body = rest.json()
    rest_layers = {layer["index"]: layer for layer in rest_body["layers"]}

    run_pass(ws, "forward", image=data_url(seven))
    start, layers, done = PASSES[mode](ws, "backward", target=3)

    assert (start["phase"], start["layers"], start["target"], start["loss_name"]) == ("backward", 12, 3,
                                                                                     "cross_entropy")
    assert [m["index"] for m in layers] == list(range(11, -1, -1))
    assert [m["remaining"] for m in layers] == list(range(11, -1, -1))
    for layer in layers:
        row, reference = model_layers[layer["index"]], rest_layers[layer["index"]]
        assert (layer["phase"], layer["name"], layer["kind"]) == ("backward", row["name"], row["kind"])
        assert layer["delta_of"] == reference["delta_of"] == ("net" if row["kind"] in ("Conv2D", "Dense") else "out")
        assert layer["delta"].shape == tuple(row["output_shape"])
        np.testing.assert_array_equal(layer["delta"], decode_json(reference["delta"]))
        assert set(layer["grads"]) == set(reference["grads"]) == ({"W", "b"} if row["params"] else set())
        for key, grad in layer["grads"].items():
            np.testing.assert_allclose(grad, decode_json(reference["grads"][key]), rtol=1e-6, atol=1e-12)
        assert (layer["routing"] is not None) == (row["kind"] == "MaxPool2D") == (reference["routing"] is not None)
        assert (layer["grad_input"] is not None) == (layer["index"] == 0)
    assert layers[-1]["grad_input"].shape == (1, 28, 28)
    np.testing.assert_array_equal(layers[-1]["grad_input"], decode_json(rest_layers[0]["grad_input"]))

    assert done["phase"] == "backward" and start["loss"] > 0
    assert start["loss"] == pytest.approx(rest_body["loss"], rel=1e-12)
    assert start["prediction"] == rest_body["prediction"]
    assert_nothing_pending(ws)


def test_backward_before_any_forward_is_refused_then_works_after_one(ws: WebSocketTestSession, seven: bytes) -> None:
    send(ws, "backward", target=3)
    expect_error(ws, "no_forward_yet", "forward")
    run_pass(ws, "forward", image=data_url(seven))
    assert run_pass(ws, "backward", target=3)[0]["phase"] == "backward"


@pytest.mark.parametrize(
    ("fields", "named"),
    [({"target": 10}, "target"), ({"target": -1}, "target"), ({}, "target"), ({"target": "seven"}, "target"),
     ({"target": 3, "loss": "hinge"}, "loss")],
)
def test_a_bad_backward_is_refused_naming_the_field_and_the_socket_keeps_working(
    ws: WebSocketTestSession, seven: bytes, fields: dict[str, Any], named: str
) -> None:
    run_pass(ws, "forward", image=data_url(seven))
    send(ws, "backward", **fields)
    expect_error(ws, "invalid_request", named)
    start, layers, done = run_pass(ws, "backward", target=3, loss="mse")
    assert start["loss_name"] == "mse" and len(layers) == 12 and start["loss"] > 0


# ------------------------------------------------------------------------------------------------------- update


@pytest.mark.parametrize("mode", ["run", "step"])
def test_step_updates_the_five_layers_with_weights_in_order_and_lowers_the_loss(
    ws: WebSocketTestSession, seven: bytes, mode: str
) -> None:
    run_pass(ws, "forward", image=data_url(seven))
    backward_start = run_pass(ws, "backward", target=3)[0]
    start, layers, done = PASSES[mode](ws, "step", lr=0.01)

    assert (start["phase"], start["layers"], start["lr"], start["momentum"]) == ("update", 5, 0.01, 0.0)
    assert [(m["index"], m["name"], m["kind"]) for m in layers] == WEIGHTED
    for layer in layers:
        assert layer["phase"] == "update" and set(layer["params"]) == {"W", "b"}
        for entry in layer["params"].values():
            assert entry["delta"].shape == tuple(entry["shape"])
            assert "before" not in entry  # the client holds the weights before the step
            assert (entry["after"] is not None) == (int(np.prod(entry["shape"])) <= 8192)
    assert done["phase"] == "update" and start["steps"] == 1
    assert start["loss_before"] == pytest.approx(backward_start["loss"], rel=1e-12)
    assert start["loss_after"] < start["loss_before"]
    assert start["loss_history"] == [start["loss_after"]]
    assert_nothing_pending(ws)


def test_step_before_forward_or_backward_is_refused_then_works(ws: WebSocketTestSession, seven: bytes) -> None:
    send(ws, "step", lr=0.01)
    expect_error(ws, "no_forward_yet", "forward")
    run_pass(ws, "forward", image=data_url(seven))
    send(ws, "step", lr=0.01)
    expect_error(ws, "no_backward_yet", "backward")
    run_pass(ws, "backward", target=3)
    assert run_pass(ws, "step", lr=0.01)[0]["steps"] == 1


@pytest.mark.parametrize(
    ("fields", "words"),
    [({"lr": 2.5}, ("2.5", "limit", "2")), ({"lr": 0}, ("lr",)), ({"lr": -0.1}, ("lr",)), ({}, ("lr",)),
     ({"lr": 0.01, "momentum": 1.0}, ("momentum",))],
)
def test_a_bad_step_is_refused_and_changes_nothing(
    make_client: Callable[..., TestClient], seven: bytes, fields: dict[str, Any], words: tuple[str, ...]
) -> None:
    with make_client(max_learning_rate=2.0).websocket_connect("/ws") as ws:
        run_pass(ws, "forward", image=data_url(seven))
        run_pass(ws, "backward", target=3)
        send(ws, "step", **fields)
        expect_error(ws, "invalid_request", *words)
        start = run_pass(ws, "step", lr=2.0)[0]  # the limit itself is allowed
        assert start["steps"] == 1


def test_reset_brings_back_the_pretrained_probabilities(ws: WebSocketTestSession, seven: bytes) -> None:
    pretrained = run_pass(ws, "forward", image=data_url(seven))[0]["probabilities"]
    run_pass(ws, "backward", target=3)
    run_pass(ws, "step", lr=0.1)
    changed = run_pass(ws, "forward", image=data_url(seven))[0]["probabilities"]
    assert not np.allclose(changed, pretrained, rtol=0, atol=1e-6)

    send(ws, "reset")
    start, done = receive(ws), receive(ws)
    assert (start["type"], start["phase"], start["layers"]) == ("start", "reset", 0)
    assert "pretrained" in start["message"]
    np.testing.assert_allclose(start["forward"]["probabilities"], pretrained, rtol=0, atol=1e-12)
    assert (done["type"], done["phase"]) == ("done", "reset")
    assert_nothing_pending(ws)
    again = run_pass(ws, "forward", image=data_url(seven))[0]["probabilities"]
    np.testing.assert_allclose(again, pretrained, rtol=0, atol=1e-12)
    send(ws, "step", lr=0.01)  # the reset forgot the target as well as the weights
    expect_error(ws, "no_backward_yet")


# ------------------------------------------------------------------------------------- replacing a pending pass


def test_a_new_command_replaces_the_pass_being_stepped_through(ws: WebSocketTestSession, seven: bytes) -> None:
    send(ws, "forward", image=data_url(seven), mode="step")
    assert [receive(ws)["type"] for _ in range(2)] == ["start", "layer"]
    send(ws, "backward", target=1, mode="step")  # the forward was stored whole: its backward can start
    start, first = receive(ws), receive(ws)
    assert (start["type"], start["phase"]) == ("start", "backward")
    assert (first["phase"], first["index"]) == ("backward", 11)
    send(ws, "run")
    rest = [receive(ws) for _ in range(12)]
    assert [m["phase"] for m in rest] == ["backward"] * 12
    assert [m.get("index") for m in rest] == [*range(10, -1, -1), None] and rest[-1]["type"] == "done"
    assert_nothing_pending(ws)


def test_a_new_pass_in_mode_run_sends_only_its_own_messages(ws: WebSocketTestSession, seven: bytes,
                                                            digit_png: Callable[..., bytes]) -> None:
    send(ws, "forward", image=data_url(seven), mode="step")
    receive(ws), receive(ws)
    start, layers, done = run_pass(ws, "forward", image=data_url(digit_png(2)))
    assert [m["index"] for m in layers] == list(range(12))
    assert start["prediction"] == run_pass(ws, "forward", image=data_url(digit_png(2)))[0]["prediction"]
    assert_nothing_pending(ws)
