"""Every request body is bounded while it is read (app.limits): over the limit is a 413 in the server's error shape
naming both sizes, answered before the body is read whole, with or without Content-Length; at the limit passes. An
upload the client abandons mid-body is one log line and no answer."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.limits import ENVELOPE_BYTES, forward_body_bytes
from tests.app.api_helpers import MakeClient, assert_error, post_png
from tests.app.ws_helpers import expect_error, run_pass

JSON_LIMIT = 16384
CHUNK = 8192


class Body:
    """A request body of `total` bytes handed to the app CHUNK at a time as ASGI messages, counting what the app
    pulled, and failing the request if it pulls more than `allowed`: proof that the server stopped reading."""

    def __init__(self, total: int, allowed: int, fill: bytes = b" ") -> None:
        self.total, self.allowed, self.fill, self.sent = total, allowed, fill, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while self.sent < self.total:
            n = min(CHUNK, self.total - self.sent)
            self.sent += n
            if self.sent > self.allowed:
                raise AssertionError(f"the server read {self.sent:,} bytes, past {self.allowed:,}")
            yield {"type": "http.request", "body": self.fill * n, "more_body": self.sent < self.total}


def asgi_request(client: TestClient, method: str, path: str, headers: dict[str, str],
                 messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run one request through the started app at the ASGI level, its body the `messages`, and return what the app
    sent back. TestClient reads a streamed body whole before the app sees it; this hands it over as it is asked for."""
    pending = iter(messages)
    replies: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        for message in pending:
            return message
        await asyncio.sleep(3600)  # the client has nothing more to say
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        replies.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}

    async def call() -> None:
        await client.app(scope, receive, send)  # type: ignore[arg-type]

    assert client.portal is not None, "the client must be started (the lifespan run)"
    client.portal.call(call)
    return replies


def answer(replies: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the app's reply."""
    assert replies and replies[0]["type"] == "http.response.start", replies
    body = b"".join(m.get("body", b"") for m in replies[1:])
    return replies[0]["status"], json.loads(body)


def assert_refused(replies: list[dict[str, Any]], *words: str) -> str:
    status, body = answer(replies)
    assert (status, body["code"]) == (413, "too_large"), body
    for word in words:
        assert word in body["detail"], f"{word!r} not in {body['detail']!r}"
    detail: str = body["detail"]
    return detail


def sizes(detail: str) -> list[int]:
    return [int(s.replace(",", "")) for s in re.findall(r"\((\d[\d,]*) bytes\)", detail)]


def padded_json(value: dict[str, Any], size: int) -> bytes:
    """`value` as JSON followed by spaces up to exactly `size` bytes (JSON allows trailing whitespace)."""
    raw = json.dumps(value).encode()
    assert len(raw) <= size
    return raw + b" " * (size - len(raw))


@pytest.mark.parametrize("chunked", [False, True], ids=["Content-Length", "chunked"])
def test_a_gigabyte_to_backward_is_refused_before_it_is_read(client: TestClient, chunked: bool) -> None:
    total = 2**30
    body = Body(total, JSON_LIMIT + ENVELOPE_BYTES)
    headers = {"Content-Type": "application/json"} | ({} if chunked else {"Content-Length": str(total)})
    detail = assert_refused(asgi_request(client, "POST", "/api/backward", headers, body), "The request body",
                            "the limit is", "16,384 bytes", "CNN_MAX_JSON_BYTES")
    if chunked:  # the size seen when it stopped reading: at least one byte more than the limit
        assert "at least" in detail and JSON_LIMIT < sizes(detail)[0] <= JSON_LIMIT + CHUNK, detail
        assert body.sent <= JSON_LIMIT + CHUNK
    else:  # the declared size, refused before a byte of the body was read
        assert sizes(detail) == [total, JSON_LIMIT], detail
        assert body.sent == 0


@pytest.mark.parametrize("chunked", [False, True], ids=["Content-Length", "chunked"])
def test_a_body_one_byte_over_the_limit_is_refused_and_one_at_it_passes(client: TestClient, seven: bytes,
                                                                        chunked: bool) -> None:
    assert post_png(client, seven).status_code == 200
    at_limit = padded_json({"target": 3}, JSON_LIMIT)
    over = at_limit + b" "

    def post(data: bytes) -> Any:
        content = iter([data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]) if chunked else data
        return client.post("/api/backward", content=content, headers={"Content-Type": "application/json"})

    detail = assert_error(post(over), 413, "too_large", "16,384 bytes")["detail"]
    assert sizes(detail) == [JSON_LIMIT + 1, JSON_LIMIT], detail
    r = post(at_limit)
    assert r.status_code == 200, r.text
    assert r.json()["target"] == 3


def test_the_json_limit_is_a_setting(make_client: MakeClient) -> None:
    client = make_client(max_json_bytes=2048)
    r = client.post("/api/step", content=padded_json({"lr": 0.1}, 2049), headers={"Content-Type": "application/json"})
    assert_error(r, 413, "too_large", "2,049 bytes", "2,048 bytes")


@pytest.mark.parametrize(("method", "path"), [("POST", "/api/reset"), ("GET", "/healthz"), ("GET", "/static/x")])
def test_a_route_that_reads_no_body_still_refuses_a_large_one(client: TestClient, method: str, path: str) -> None:
    body = Body(10**8, 0)
    replies = asgi_request(client, method, path, {"Content-Length": str(10**8)}, body)
    assert_refused(replies, "100,000,000 bytes", "16,384 bytes")
    assert body.sent == 0


def test_the_pages_own_input_fits_the_json_limit_many_times_over(client: TestClient) -> None:
    """The page's forward body, a 28×28 float32 input, is about 4.3 KB."""
    data = base64.b64encode(np.zeros((28, 28), np.float32).tobytes()).decode()
    body = json.dumps({"input": {"shape": [28, 28], "dtype": "float32", "data": data}}).encode()
    assert len(body) < JSON_LIMIT // 3
    r = client.post("/api/forward", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code in (200, 422), r.text  # a blank input may be refused, but never for its size
    assert r.json().get("code") != "too_large"


@pytest.mark.parametrize("chunked", [False, True], ids=["Content-Length", "chunked"])
def test_the_forward_takes_its_image_limit_and_no_more(make_client: MakeClient, chunked: bool) -> None:
    client = make_client(max_upload_bytes=100_000)
    limit = forward_body_bytes(100_000)
    assert limit == 100_000 * 4 // 3 + ENVELOPE_BYTES
    total = 50 * 2**20
    body = Body(total, limit + ENVELOPE_BYTES, fill=b"A")
    headers = {"Content-Type": "application/json"} | ({} if chunked else {"Content-Length": str(total)})
    # The message names the image limit people set (CNN_MAX_UPLOAD_BYTES), not the envelope's arithmetic.
    assert_refused(asgi_request(client, "POST", "/api/forward", headers, body), "The image",
                   "the limit is 0.0954 MB (100,000 bytes)", "smaller image")
    assert body.sent <= limit + CHUNK
    # Just under the forward's limit is read whole, and judged by what it holds (here, not a data URL).
    at = b'{"image": "' + b"A" * (limit - 13) + b'"}'
    assert len(at) == limit
    r = client.post("/api/forward", content=at, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "bad_data_url", "Expected a data URL")


def test_a_websocket_command_over_the_limit_is_refused_and_the_socket_stays_usable(make_client: MakeClient,
                                                                                 seven: bytes) -> None:
    client = make_client(max_upload_bytes=10_000)
    limit = forward_body_bytes(10_000)
    with client.websocket_connect("/ws") as ws:
        ws.send_text(json.dumps({"cmd": "forward", "image": "data:image/png;base64," + "A" * limit}))
        expect_error(ws, "too_large", "The command", f"{limit:,} bytes", "data URL")
        start, _, _ = run_pass(ws, "forward", image="data:image/png;base64," + base64.b64encode(seven).decode())
        assert start["phase"] == "forward" and start["prediction"] == 7


# An upload abandoned mid-body: driven at the ASGI level, since an HTTP client cannot half-send a request.


@pytest.mark.parametrize(("path", "content_type"), [("/api/forward", "multipart/form-data; boundary=x"),
                                                    ("/api/forward", "application/json"),
                                                    ("/api/backward", "application/json")])
def test_an_abandoned_upload_is_one_log_line_and_no_answer(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                           path: str, content_type: str) -> None:
    with caplog.at_level(logging.INFO):
        sent = [{"type": "http.request", "body": b"--x\r\n" + b"a" * 1000, "more_body": True},
                {"type": "http.disconnect"}]
        replies = asgi_request(client, "POST", path, {"Content-Type": content_type, "Content-Length": "9000"}, sent)
    assert replies == []
    lines = [r for r in caplog.records if "closed the connection" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert lines[0].getMessage() == (f"POST {path}: the client closed the connection after sending 1,005 bytes of "
                                     "the body; nothing was answered")
    assert lines[0].exc_info is None and lines[0].levelno == logging.INFO
    assert not any(r.exc_info for r in caplog.records)  # no traceback anywhere
    assert client.get("/healthz").status_code == 200
