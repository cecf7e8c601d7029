"""WS /ws (app/routes/ws.py): refusals that leave the socket usable, the session shared with the REST API, and a client
that drops out mid-pass. The passes themselves are in test_ws.py.

Helpers are in ws_helpers.py; the fixtures seven, ws and model_layers in conftest.py.
"""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from starlette.testclient import WebSocketTestSession

from tests.app.conftest import data_url
from tests.app.ws_helpers import blank_png, expect_error, receive, run_pass, send, upload

# ------------------------------------------------------------------------------------------------- bad commands

SEVEN = "<seven>"  # replaced by the sample 7 as a data URL


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        ("forward please", "invalid_json", ("JSON",)),
        ("{\"cmd\": \"next\"", "invalid_json", ("JSON",)),
        ("[1, 2]", "unknown_command", ("forward",)),
        ("\"next\"", "unknown_command", ("forward",)),
        ("{\"cmd\": \"fly\"}", "unknown_command", ("'fly'", "forward", "backward", "reset")),
        ("{\"cmd\": 5}", "unknown_command", ("forward",)),
        ("{\"mode\": \"run\"}", "unknown_command", ("forward",)),
        (json.dumps({"cmd": "forward", "image": SEVEN, "mode": "fast"}), "invalid_request", ("mode", "'fast'")),
        (json.dumps({"cmd": "forward"}), "invalid_request", ("image", "data URL")),
        (json.dumps({"cmd": "forward", "image": 7}), "invalid_request", ("image",)),
        (json.dumps({"cmd": "forward", "image": "https://example.com/7.png"}), "bad_data_url", ("data URL",)),
        (json.dumps({"cmd": "forward", "image": "data:text/plain;base64,aGk="}), "bad_data_url", ("not an image",)),
        (json.dumps({"cmd": "forward", "image": "data:image/png;base64,@@@@"}), "bad_data_url", ("base64",)),
        (json.dumps({"cmd": "forward", "image": data_url(b"hello, not a png")}), "not_an_image", ("image",)),
        (json.dumps({"cmd": "forward", "image": data_url(blank_png())}), "empty_image", ()),
    ],
)
def test_a_bad_command_gets_an_error_in_plain_words_and_the_socket_stays_usable(
    ws: WebSocketTestSession, seven: bytes, raw: str, code: str, words: tuple[str, ...]
) -> None:
    ws.send_text(raw.replace(SEVEN, data_url(seven)))
    expect_error(ws, code, *words)
    start, layers, done = run_pass(ws, "forward", image=data_url(seven))
    assert len(layers) == 12 and done["phase"] == "forward"


def test_a_binary_frame_from_the_client_gets_an_error_and_the_socket_stays_usable(
    client: TestClient, seven: bytes
) -> None:
    # A binary frame has no "text": it must get an error, not kill the endpoint (the socket would close with 1011).
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(json.dumps({"cmd": "forward", "image": data_url(seven)}).encode())
        expect_error(ws, "invalid_json", "text")
        assert run_pass(ws, "forward", image=data_url(seven))[0]["phase"] == "forward"


def test_json_nested_deeper_than_the_parser_allows_gets_an_error_and_the_socket_stays_usable(
    client: TestClient, seven: bytes
) -> None:
    # json.loads raises RecursionError on arrays nested ~1000 deep: an error message, and the socket stays up
    # whatever the command.
    with client.websocket_connect("/ws") as ws:
        ws.send_text("[" * 100_000 + "]" * 100_000)
        expect_error(ws, "invalid_json", "JSON")
        assert run_pass(ws, "forward", image=data_url(seven))[0]["phase"] == "forward"


# --------------------------------------------------------------------------------------- sessions and dropouts


def test_a_client_that_drops_mid_pass_leaves_its_session_consistent(client: TestClient, seven: bytes) -> None:
    assert client.post("/api/reset").status_code == 200  # the browser gets its cookie from a page or API call
    cookie = client.cookies["cnn_session"]
    with client.websocket_connect("/ws") as ws:
        run_pass(ws, "forward", image=data_url(seven))
        send(ws, "backward", target=2, mode="step")
        assert [receive(ws)["type"] for _ in range(2)] == ["start", "layer"]
    # Leaving the block closed the socket; had the endpoint raised, the exit would have re-raised it.

    state = client.app.state.services.store.get(cookie)  # type: ignore[attr-defined]
    assert state is not None and state.input is not None
    assert (state.target, state.loss, state.steps) == (2, "cross_entropy", 0)

    with client.websocket_connect("/ws") as ws:  # same cookie: same session, the backward's target is there
        start = run_pass(ws, "step", lr=0.01)[0]
        assert start["steps"] == 1 and start["loss_after"] < start["loss_before"]
    step = client.post("/api/step", json={"lr": 0.01})
    assert step.status_code == 200 and step.json()["steps"] == 2


def test_rest_and_websocket_share_the_session_of_one_cookie_and_tab(client: TestClient, seven: bytes) -> None:
    client.post("/api/reset")
    with client.websocket_connect("/ws") as ws:
        run_pass(ws, "forward", image=data_url(seven))
        ws_loss = run_pass(ws, "backward", target=4)[0]["loss"]
    backward = client.post("/api/backward", json={"target": 4})
    assert backward.status_code == 200, backward.text
    assert backward.json()["loss"] == pytest.approx(ws_loss, rel=1e-12)

    with client.websocket_connect("/ws?tab=tabA") as ws:
        run_pass(ws, "forward", image=data_url(seven))
    assert client.post("/api/backward", json={"target": 4}, headers={"X-Tab-Id": "tabA"}).status_code == 200
    other = client.post("/api/backward", json={"target": 4}, headers={"X-Tab-Id": "tabB"})
    assert (other.status_code, other.json()["code"]) == (409, "no_forward_yet")

    assert client.post("/api/forward?tab=tabB", **upload(seven)).status_code == 200
    with client.websocket_connect("/ws?tab=tabB") as ws:
        assert run_pass(ws, "backward", target=4)[0]["loss"] == pytest.approx(ws_loss, rel=1e-12)


def test_without_a_cookie_each_socket_has_a_session_of_its_own(client: TestClient, seven: bytes) -> None:
    assert "cnn_session" not in client.cookies
    with client.websocket_connect("/ws") as ws:
        run_pass(ws, "forward", image=data_url(seven))
    with client.websocket_connect("/ws") as ws:
        send(ws, "backward", target=4)
        expect_error(ws, "no_forward_yet")
