"""Steps the server refuses, in words a person can act on: a learning rate over the limit names both numbers as
typed; a step whose weights or layer outputs would leave float32's range (what the page receives) counts as diverged
and is undone; after three refusals in a row the message says the way out is a reset."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient

from tests.app.api_helpers import MakeClient, assert_error, post_png
from tests.app.wire import decode_json


def test_the_limit_message_shows_the_numbers_as_typed(make_client: MakeClient, seven: bytes) -> None:
    client = make_client(max_learning_rate=10)
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3})
    assert_error(client.post("/api/step", json={"lr": 10.000001}), 422, "invalid_request",
                 "learning rate 10.000001 is above the limit of 10")
    assert client.post("/api/step", json={"lr": 10}).status_code in (200, 422)  # the limit itself is allowed


def test_a_step_beyond_float32_is_refused_and_undone(make_client: MakeClient, seven: bytes) -> None:
    client = make_client(max_learning_rate=1e30)
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3})
    before = decode_json(client.get("/api/params/dense1").json()["params"]["W"])
    body = assert_error(client.post("/api/step", json={"lr": 1e30}), 422, "step_diverged",
                        "float32", "the step was undone", "smaller learning rate")
    assert "Reset" not in body["detail"]  # one refusal: not yet the advice to reset
    after = decode_json(client.get("/api/params/dense1").json()["params"]["W"])
    np.testing.assert_array_equal(after, before)
    ok = client.post("/api/step", json={"lr": 0.001})  # the session is as it was: a sensible step works
    assert ok.status_code == 200 and ok.json()["steps"] == 1
    assert np.isfinite(ok.json()["loss_after"])


def test_three_refusals_in_a_row_say_to_reset(make_client: MakeClient, seven: bytes) -> None:
    client = make_client(max_learning_rate=1e30)
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3})
    details = [client.post("/api/step", json={"lr": 1e30}).json() for _ in range(3)]
    assert [d["code"] for d in details] == ["step_diverged"] * 3, details
    assert "Reset" not in details[1]["detail"]
    assert "The last 3 steps were all refused" in details[2]["detail"] and "Reset weights" in details[2]["detail"]
    assert client.post("/api/reset").status_code == 200
    assert client.post("/api/step", json={"lr": 0.001, "target": 3}).status_code == 200


def test_the_learning_rate_and_momentum_must_be_json_numbers(client: TestClient, seven: bytes) -> None:
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3})
    for body, field in [({"lr": "0.1"}, "lr"), ({"lr": True}, "lr"), ({"lr": 0.1, "momentum": "0.5"}, "momentum"),
                        ({"lr": 0.1, "momentum": False}, "momentum"), ({"lr": 0.1, "target": "3"}, "target")]:
        body = assert_error(client.post("/api/step", json=body), 422, "invalid_request", field)
        assert "number" in body["detail"] or "integer" in body["detail"], body
    assert client.post("/api/step", json={"lr": 1, "momentum": 0}).status_code == 200  # whole numbers are numbers
