"""The request corridor: nothing computed twice, nothing sent twice, and the page's own input.

- backward starts from the forward the session holds, a step from the backward's gradients, and the step's forward on
  the new weights is its answer; counted on the engine's own calls;
- the page may send the 28×28 input it preprocessed itself, and then gets no input back;
- a step may name its target, so an update needs no backward first;
- what the session holds (export, gradcheck) is what the passes computed.
"""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.services.images import image_to_input
from cnn import Sequential
from tests.app.api_helpers import F32, MakeClient, Samples, assert_error, layers_by_name, outputs, post_png
from tests.app.conftest import data_url
from tests.app.wire import decode_json, encode_input


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the engine runs a whole forward or backward pass, counted on Sequential itself."""
    counts = {"forward": 0, "backward": 0}
    forward, backward = Sequential.forward, Sequential.backward

    def counted_forward(self: Sequential, *args: Any, **kwargs: Any) -> Any:
        counts["forward"] += 1
        return forward(self, *args, **kwargs)

    def counted_backward(self: Sequential, *args: Any, **kwargs: Any) -> Any:
        counts["backward"] += 1
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(Sequential, "forward", counted_forward)
    monkeypatch.setattr(Sequential, "backward", counted_backward)
    return counts


def test_a_cycle_runs_each_pass_once(client: TestClient, seven: bytes, calls: dict[str, int]) -> None:
    assert post_png(client, seven).status_code == 200
    assert calls == {"forward": 1, "backward": 0}
    assert client.post("/api/backward", json={"target": 3}).status_code == 200
    assert calls == {"forward": 1, "backward": 1}  # backward started from the held forward
    step = client.post("/api/step", json={"lr": 0.01})
    assert step.status_code == 200
    assert calls == {"forward": 2, "backward": 1}  # the step used the held gradients; one forward on the new weights
    assert client.post("/api/backward", json={"target": 3}).status_code == 200
    assert calls == {"forward": 2, "backward": 2}  # the step's forward is the next backward's start
    client.get("/api/export")
    assert calls == {"forward": 2, "backward": 2}  # export reads what the session holds
    client.post("/api/gradcheck", json={"param": "dense3.b", "samples": 2})
    assert calls["backward"] == 2  # the analytic side is the held backward; only finite differences run forward


def test_the_step_answers_with_the_forward_on_the_new_weights(client: TestClient, seven: bytes) -> None:
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3})
    step = client.post("/api/step", json={"lr": 0.01}).json()
    again = post_png(client, seven).json()  # the same input, run forward again with the new weights
    assert step["forward"]["probabilities"] == again["probabilities"]
    assert (step["prediction"], step["probabilities"]) == (again["prediction"], again["probabilities"])
    for name, out in outputs(step["forward"]).items():
        np.testing.assert_array_equal(out, outputs(again)[name])


def test_a_step_that_names_its_target_needs_no_backward_first(client: TestClient, seven: bytes,
                                                              calls: dict[str, int]) -> None:
    post_png(client, seven)
    step = client.post("/api/step", json={"lr": 0.01, "target": 3, "loss": "mse"})
    assert step.status_code == 200, step.text
    body = step.json()
    assert (body["target"], body["loss_name"], body["steps"]) == (3, "mse", 1)
    assert calls == {"forward": 2, "backward": 1}
    # The next step, without a target, keeps the one the session now holds.
    assert client.post("/api/step", json={"lr": 0.01}).json()["target"] == 3
    # A target other than the held backward's is honoured: that backward is computed first.
    other = client.post("/api/step", json={"lr": 0.01, "target": 5}).json()
    assert other["target"] == 5 and other["loss_name"] == "mse"


def test_a_step_with_a_target_equals_backward_then_step(make_client: MakeClient, seven: bytes) -> None:
    a, b = make_client(), make_client()
    for client in (a, b):
        post_png(client, seven)
    a.post("/api/backward", json={"target": 4})
    via_backward = a.post("/api/step", json={"lr": 0.02}).json()
    direct = b.post("/api/step", json={"lr": 0.02, "target": 4}).json()
    assert via_backward["loss_before"] == direct["loss_before"] and via_backward["loss_after"] == direct["loss_after"]
    assert via_backward["forward"]["probabilities"] == direct["forward"]["probabilities"]


# ---------------------------------------------------------------------------------------- the page's own input


def test_the_page_may_send_its_own_input_and_gets_none_back(client: TestClient, seven: bytes) -> None:
    uploaded = post_png(client, seven).json()
    pre = decode_json(uploaded["input"])
    sent = client.post("/api/forward", json={"input": encode_input(pre)})
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert body["input"] is None  # the page has it: it does not travel back
    assert body["probabilities"] == pytest.approx(uploaded["probabilities"], rel=1e-5, abs=1e-9)
    assert body["prediction"] == uploaded["prediction"] == 7
    # The session holds it: backward, step and export work on it.
    assert client.post("/api/backward", json={"target": 7}).status_code == 200
    exported = np.load(io.BytesIO(client.get("/api/export").content))
    np.testing.assert_array_equal(exported["input"], pre.astype(np.float64))
    # There are no preprocessing steps to show for it.
    assert client.get("/api/input/steps").json() == {"steps": {}}


def test_uint8_input_reads_as_n_over_255(client: TestClient, samples: Samples) -> None:
    images, _ = samples
    a = np.asarray(images[3], dtype=np.uint8)
    as_bytes = {"shape": [28, 28], "dtype": "uint8", "data": base64.b64encode(a.tobytes()).decode()}
    r1 = client.post("/api/forward", json={"input": as_bytes}).json()
    r2 = client.post("/api/forward", json={"input": encode_input(a / 255.0)}).json()
    assert r1["probabilities"] == pytest.approx(r2["probabilities"], rel=1e-5, abs=1e-9)


@pytest.mark.parametrize(("value", "words"), [
    (np.zeros((27, 28)), ("[27, 28]", "[28, 28]")),
    (np.full((28, 28), 1.5), ("[0, 1]",)),
    (np.full((28, 28), np.nan), ("[0, 1]",)),
    (np.zeros((2, 28, 28)), ("[2, 28, 28]",)),
], ids=["shape", "above 1", "nan", "two channels"])
def test_an_input_the_model_cannot_read_is_refused_in_plain_words(client: TestClient, value: np.ndarray,
                                                                  words: tuple[str, ...]) -> None:
    assert_error(client.post("/api/forward", json={"input": encode_input(value)}), 422, "invalid_request", *words)


def test_image_and_input_together_are_refused(client: TestClient, seven: bytes) -> None:
    body = {"image": data_url(seven), "input": encode_input(np.zeros((28, 28)))}
    assert_error(client.post("/api/forward", json=body), 422, "invalid_request", "not both")


# --------------------------------------------------------------------------------------- what the session holds


def test_the_exported_tensors_after_a_step_are_the_sessions_weights(client: TestClient, seven: bytes) -> None:
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3})
    before = np.load(io.BytesIO(client.get("/api/export").content))
    step = client.post("/api/step", json={"lr": 0.05}).json()
    after = np.load(io.BytesIO(client.get("/api/export").content))
    for layer in step["layers"]:
        params = client.get(f"/api/params/{layer['name']}").json()["params"]
        for key, change in layer["params"].items():
            name = f"{layer['name']}.{key}"
            exported = after[f"param/{name}"]
            assert exported.dtype == np.float64
            np.testing.assert_allclose(exported, decode_json(params[key]), **F32)
            np.testing.assert_allclose(exported, before[f"param/{name}"] + decode_json(change["delta"]),
                                       rtol=1e-5, atol=1e-7)
            if change["after"] is not None:
                np.testing.assert_array_equal(exported.astype(np.float32), decode_json(change["after"]))
    # The layer outputs exported are the step's forward on the new weights.
    for name, out in outputs(step["forward"]).items():
        index = next(i for i, lay in enumerate(step["forward"]["layers"]) if lay["name"] == name)
        np.testing.assert_allclose(after[f"{index:02d}_{name}/output"], out, **F32)


def test_the_data_url_limit_counts_base64s_four_thirds(make_client: MakeClient,
                                                       digit_png: Callable[..., bytes]) -> None:
    """An image just under the byte limit is taken as a data URL too, though its base64 is a third longer."""
    limit = 10_000
    client = make_client(max_upload_bytes=limit)
    padded = digit_png(4) + b"\0" * (limit - 100 - len(digit_png(4)))  # PNG ignores bytes after IEND
    assert len(padded) == limit - 100 and len(data_url(padded)) > limit * 13 // 10  # base64: 4/3 of the bytes
    ok = client.post("/api/forward", json={"image": data_url(padded)})
    assert ok.status_code == 200, ok.text
    assert ok.json()["prediction"] == 4
    over = digit_png(4) + b"\0" * (limit + 100 - len(digit_png(4)))
    assert_error(client.post("/api/forward", json={"image": data_url(over)}), 413, "too_large", "10,000 bytes")


def test_a_raised_limit_takes_a_data_url_past_the_default_size(make_client: MakeClient,
                                                               digit_png: Callable[..., bytes]) -> None:
    """7 MB allowed: a 6.5 MB image travels as 8.7 MB of base64, and is taken."""
    client = make_client(max_upload_bytes=7 * 2**20)
    padded = digit_png(2) + b"\0" * (int(6.5 * 2**20) - len(digit_png(2)))
    assert len(data_url(padded)) > 8 * 2**20
    r = client.post("/api/forward", json={"image": data_url(padded)})
    assert r.status_code == 200, r.text[:300]
    assert r.json()["prediction"] == 2


def test_preprocessing_of_an_upload_is_what_forward_reads(client: TestClient, seven: bytes) -> None:
    body = post_png(client, seven).json()
    np.testing.assert_allclose(decode_json(body["input"]), image_to_input(seven).input, **F32)
    assert set(layers_by_name(body)) >= {"conv1", "dense3"}


# ---------------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(("variable", "value", "words"), [
    ("CNN_MAX_LEARNING_RATE", "nan", "finite"),
    ("CNN_MAX_UPLOAD_BYTES", "-5", "greater than 0"),
    ("CNN_SESSION_MEMORY_MB", "many", "integer"),
])
def test_a_setting_that_makes_no_sense_stops_the_server_at_start(variable: str, value: str, words: str) -> None:
    env = {**os.environ, variable: value}
    done = subprocess.run([sys.executable, "-c", "import app.main"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0
    assert "cannot start" in done.stderr and f"{variable}={value!r}" in done.stderr and words in done.stderr, \
        done.stderr
    assert "Traceback" not in done.stderr
