"""The wire size of one digit's full LeNet-5 trace (forward, backward, update): what a learner's browser downloads for
one round, by REST and by WebSocket, must stay under BUDGET.

REST bodies are measured as sent, gzipped (the oldest encoding a browser takes; zstd and brotli come out smaller), and
httpx's `iter_raw` hands over the body without undoing its Content-Encoding, so the bytes counted are the gzip bytes on
the wire (headers aside).

WebSocket frames are counted raw and as permessage-deflate (RFC 7692) would send them: raw deflate at zlib level 6
(what the `websockets` library and browsers use), each message flushed with Z_SYNC_FLUSH and its final 00 00 ff ff
dropped, plus the 2-10 byte frame header. The budget holds without context takeover, the worst case: every message
compressed alone.
"""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import data_url, png_bytes
from tests.app.ws_helpers import receive_raw

BUDGET = 150_000  # bytes, for the three passes together
TARGET, LR = 3, 0.01


def frame_header_size(payload: int) -> int:
    """An unmasked server frame's header: 2 bytes, plus 2 or 8 for the extended payload length (RFC 6455 §5.2)."""
    return 2 if payload < 126 else 4 if payload < 65536 else 10


def deflated_sizes(payloads: list[bytes], context_takeover: bool) -> list[int]:
    """Each message's size on the wire under permessage-deflate (RFC 7692 §7.2.1), frame header included."""
    sizes = []
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    for payload in payloads:
        if not context_takeover:
            compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        sizes.append(frame_header_size(len(data) - 4) + len(data) - 4)
    return sizes


def number_lists(value: Any) -> Iterator[list[Any]]:
    """Every JSON list inside `value` whose items are all numbers."""
    if isinstance(value, dict):
        for item in value.values():
            yield from number_lists(item)
    elif isinstance(value, list):
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            yield value
        for item in value:
            yield from number_lists(item)


def nested_lists(value: Any) -> Iterator[list[Any]]:
    """Every JSON list inside `value` that holds a list: how a 2-D array would look if it travelled as JSON."""
    if isinstance(value, dict):
        for item in value.values():
            yield from nested_lists(item)
    elif isinstance(value, list):
        if any(isinstance(v, list) for v in value):
            yield value
        for item in value:
            yield from nested_lists(item)


# ----------------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def seven(samples: tuple[np.ndarray, np.ndarray]) -> bytes:
    return png_bytes(samples[0][7])


@pytest.fixture(scope="module")
def rest_trace(seven: bytes) -> dict[str, tuple[int, int, Any]]:
    """pass -> (gzip bytes on the wire, JSON bytes, parsed body) of POST /api/forward, /api/backward, /api/step."""
    calls = {
        "forward": ("/api/forward", {"files": {"file": ("seven.png", seven, "image/png")}}),
        "backward": ("/api/backward", {"json": {"target": TARGET}}),
        "step": ("/api/step", {"json": {"lr": LR}}),
    }
    trace = {}
    with TestClient(create_app()) as client:
        for name, (path, kwargs) in calls.items():
            with client.stream("POST", path, headers={"Accept-Encoding": "gzip"}, **kwargs) as response:
                wire = b"".join(response.iter_raw())  # as sent: iter_raw leaves the Content-Encoding in place
                assert response.status_code == 200, (name, response.status_code)
                assert response.headers["content-encoding"] == "gzip"
            body = gzip.decompress(wire)
            trace[name] = (len(wire), len(body), json.loads(body))
    return trace


@pytest.fixture(scope="module")
def ws_frames(seven: bytes) -> list[tuple[bool, bytes]]:
    """(is_text, payload) of every frame the server sends for forward, backward and step in mode run; text as
    UTF-8."""
    commands = [{"cmd": "forward", "image": data_url(seven)}, {"cmd": "backward", "target": TARGET},
                {"cmd": "step", "lr": LR}]
    frames = []
    with TestClient(create_app()) as client, client.websocket_connect("/ws") as ws:
        for command in commands:
            ws.send_text(json.dumps({**command, "mode": "run"}))
            while True:
                message = receive_raw(ws)
                if message.get("bytes") is not None:
                    frames.append((False, message["bytes"]))
                    continue
                frames.append((True, message["text"].encode()))
                parsed = json.loads(message["text"])
                assert parsed["type"] != "error", parsed
                if parsed["type"] == "done":
                    break
    return frames


# ------------------------------------------------------------------------------------------------------- budget


def test_the_rest_trace_gzipped_fits_the_budget(rest_trace: dict[str, tuple[int, int, Any]]) -> None:
    wire = {name: sizes[0] for name, sizes in rest_trace.items()}
    assert sum(wire.values()) < BUDGET, wire
    assert all(sizes[0] < sizes[1] for sizes in rest_trace.values())  # gzip really was applied


def test_the_websocket_trace_deflated_fits_the_budget(ws_frames: list[tuple[bool, bytes]]) -> None:
    assert len(ws_frames) == (1 + 12 + 1) + (1 + 12 + 1) + (1 + 5 + 1)  # start, layers, done of each pass
    payloads = [payload for _, payload in ws_frames]
    alone = sum(deflated_sizes(payloads, context_takeover=False))
    shared = sum(deflated_sizes(payloads, context_takeover=True))
    raw = sum(frame_header_size(len(f)) + len(f) for f in payloads)
    assert shared <= alone < raw
    assert alone < BUDGET, (raw, alone, shared)


# --------------------------------------------------------------------------------------------------- the format


def test_no_array_travels_as_a_json_list_in_the_rest_responses(rest_trace: dict[str, tuple[int, int, Any]]) -> None:
    for name, (_, _, body) in rest_trace.items():
        lists = list(number_lists(body))
        assert body["probabilities"] in lists  # the walk does see lists of numbers
        assert max(len(lst) for lst in lists) <= 10, (name, max(len(lst) for lst in lists))
        assert not list(nested_lists(body)), name


def test_no_array_travels_as_a_json_list_in_the_websocket_frames(ws_frames: list[tuple[bool, bytes]]) -> None:
    for is_text, frame in ws_frames:
        if is_text:
            header = json.loads(frame)
        else:
            (length,) = struct.unpack_from("<I", frame)
            header = json.loads(frame[4 : 4 + length])
        assert all(len(lst) <= 10 for lst in number_lists(header)), header.get("type")
        assert not list(nested_lists(header)), header.get("type")
