"""Shared by the WS /ws tests (test_ws.py, test_ws_errors.py): send, receive, read whole passes run or stepped."""

from __future__ import annotations

import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from PIL import Image
from starlette.testclient import WebSocketTestSession

from tests.app.wire import decode_frame

Message = dict[str, Any]
WEIGHTED = [(0, "conv1", "Conv2D"), (3, "conv2", "Conv2D"), (7, "dense1", "Dense"), (9, "dense2", "Dense"),
            (11, "dense3", "Dense")]


# ------------------------------------------------------------------------------------------------------ helpers


RECEIVE_TIMEOUT = 10.0  # seconds: a message that does not come fails the test instead of hanging the suite


async def _within(receive: Callable[[], Awaitable[Message]], seconds: float) -> Message:
    with anyio.fail_after(seconds):
        return await receive()


def receive_raw(ws: WebSocketTestSession, timeout: float = RECEIVE_TIMEOUT) -> Message:
    """ws.receive() with a timeout. Starlette's test session has none; its receive is `_send_rx.receive` run on the
    session's portal, so this runs the same under anyio.fail_after."""
    try:
        return ws.portal.call(_within, ws._send_rx.receive, timeout)
    except TimeoutError:
        pytest.fail(f"the server sent nothing within {timeout:g} s: a message is missing or out of order")


def receive(ws: WebSocketTestSession) -> Message:
    """The next server message, decoded: binary frames by decode_frame, text frames as JSON."""
    message = receive_raw(ws)
    assert message["type"] == "websocket.send", f"the server closed the socket: {message}"
    if message.get("bytes") is not None:
        return decode_frame(message["bytes"])
    decoded: Message = json.loads(message["text"])
    return decoded


def send(ws: WebSocketTestSession, cmd: str, **fields: Any) -> None:
    ws.send_text(json.dumps({"cmd": cmd, **fields}))


def expect_error(ws: WebSocketTestSession, code: str, *words: str) -> Message:
    """The next message is an error with `code` whose message is a sentence holding each of `words`."""
    message = receive(ws)
    assert message["type"] == "error", message
    assert message["code"] == code, message
    text = message["message"]
    assert isinstance(text, str) and len(text) > 15 and "Traceback" not in text, text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    return message


def read_pass(ws: WebSocketTestSession) -> tuple[Message, list[Message], Message]:
    """start, the layers, done of a pass sent whole (mode run)."""
    start = receive(ws)
    assert start["type"] == "start", start
    layers = []
    while (message := receive(ws))["type"] == "layer":
        layers.append(message)
    assert message["type"] == "done", message
    return start, layers, message


def run_pass(ws: WebSocketTestSession, cmd: str, **fields: Any) -> tuple[Message, list[Message], Message]:
    send(ws, cmd, mode="run", **fields)
    return read_pass(ws)


def step_pass(ws: WebSocketTestSession, cmd: str, **fields: Any) -> tuple[Message, list[Message], Message]:
    """The same pass in mode step: one `next` per further layer. Each `next` must bring exactly one layer (and the
    last one 'done'): were anything sent early, the following receive would not be the expected index."""
    send(ws, cmd, mode="step", **fields)
    start = receive(ws)
    assert start["type"] == "start", start
    layers = [receive(ws)]
    for _ in range(start["layers"] - 1):
        assert layers[-1]["type"] == "layer" and layers[-1]["remaining"] > 0, layers[-1]
        send(ws, "next")
        layers.append(receive(ws))
        assert layers[-1]["type"] == "layer", layers[-1]
        assert layers[-1]["index"] != layers[-2]["index"]
    assert layers[-1]["remaining"] == 0
    done = receive(ws)
    assert done["type"] == "done", done
    return start, layers, done


PASSES = {"run": run_pass, "step": step_pass}


def assert_nothing_pending(ws: WebSocketTestSession) -> None:
    """No message of the last pass is left: a `next` is refused (and is answered before anything queued later)."""
    send(ws, "next")
    expect_error(ws, "nothing_pending", "next")


def blank_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (280, 280), 255).save(buf, "PNG")
    return buf.getvalue()


def upload(png: bytes) -> dict[str, Any]:
    return {"files": {"file": ("digit.png", png, "image/png")}}
