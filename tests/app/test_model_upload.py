"""POST /api/model: a learner's own .onnx or .npz becomes the network their session runs, and every pass works on it.

Models exported from PyTorch (LeNet-5, and a 3×32×32 colour net with stride 2 and overlapping pooling) agree with
PyTorch in float64: the logits, and the gradient of the cross-entropy with respect to the input, read from the
session's export. Small graphs built with onnx.helper cover the refusals and the served .onnx where PyTorch is absent;
tests that need PyTorch skip saying why, and fail under CI=true."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from fastapi.testclient import TestClient
from onnx import TensorProto, helper
from PIL import Image

from app.services.sessions import SessionState
from tests.app.api_helpers import assert_error
from tests.app.conftest import data_url
from tests.app.wire import decode_json, encode_input
from tests.cnn.onnx_graphs import model, small_classifier, weight
from tests.cnn.onnx_helpers import export, require_torch
from tests.redis_server import RedisServer

MakeClient = Callable[..., TestClient]
TOL = 1e-6
SECRET = "a-secret-both-processes-share"


def upload(client: TestClient, data: bytes, name: str = "model.onnx", **fields: str) -> Any:
    return client.post("/api/model", files={"file": (name, data, "application/octet-stream")}, data=fields)


def export_npz(client: TestClient) -> dict[str, np.ndarray]:
    r = client.get("/api/export")
    assert r.status_code == 200, r.text
    with np.load(io.BytesIO(r.content)) as f:
        return {k: f[k] for k in f.files}


def last(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    """The array of the last layer whose export name ends in `key`, e.g. the logits ("output")."""
    names = sorted(k for k in arrays if k.endswith("/" + key) and not k.startswith("param/"))
    return arrays[names[-1]]


def first(arrays: dict[str, np.ndarray], key: str) -> np.ndarray:
    return arrays[sorted(k for k in arrays if k.endswith("/" + key) and not k.startswith("param/"))[0]]


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


# ------------------------------------------------------------------------------------ PyTorch models


@pytest.fixture(scope="module")
def torch():
    return require_torch()


def _lenet5(torch):
    """The engine's LeNet-5 in PyTorch, as the ONNX import tests define it (imported once torch is known present)."""
    from tests.cnn.test_onnx_pytorch import LeNet5

    return LeNet5()


def _colour_net(torch):
    """3×32×32: a stride-2 convolution, overlapping max pooling (3, stride 2), ten classes."""
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(3, stride=2),
                         nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(12 * 7 * 7, 10))


@pytest.fixture(scope="module")
def lenet(torch, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, bytes]:
    torch.manual_seed(0)
    net = _lenet5(torch)
    path = export(torch, net, torch.zeros(1, 1, 28, 28), tmp_path_factory.mktemp("m") / "lenet5.onnx", dynamo=False)
    return net, path.read_bytes()


@pytest.fixture(scope="module")
def colour(torch, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, bytes]:
    torch.manual_seed(1)
    net = _colour_net(torch)
    path = export(torch, net, torch.zeros(1, 3, 32, 32), tmp_path_factory.mktemp("m") / "colour.onnx", dynamo=True)
    return net, path.read_bytes()


def torch_logits_and_grad(torch, net, x: np.ndarray, target: int) -> tuple[np.ndarray, np.ndarray]:
    """PyTorch's logits and ∂(cross-entropy)/∂x in float64, for one example x (C, H, W)."""
    net = net.double().eval()
    xt = torch.tensor(x[None], dtype=torch.float64, requires_grad=True)
    logits = net(xt)
    torch.nn.functional.cross_entropy(logits, torch.tensor([target])).backward()
    net.float()
    return logits.detach().numpy()[0], xt.grad.numpy()[0]


def test_lenet5_from_pytorch_uploaded_gives_pytorch_s_logits(client: TestClient, lenet, torch,
                                                             samples: tuple[np.ndarray, np.ndarray]) -> None:
    net, data = lenet
    r = upload(client, data, "lenet5.onnx")
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["source"] == "uploaded" and summary["file"] == "lenet5.onnx" and summary["format"] == "onnx"
    assert summary["input_shape"] == [1, 28, 28] and summary["preprocessing"] == "mnist"
    assert summary["total_params"] == 61706 and summary["class_labels"] == [str(d) for d in range(10)]
    assert [layer["output_shape"] for layer in summary["layers"]][-1] == [10]
    assert client.get("/api/model").json()["layers"] == summary["layers"]  # the session runs it now

    x = samples[0][7].astype(np.float32) / 255  # as the page sends its own 28×28 input
    r = client.post("/api/forward", json={"input": encode_input(x)})
    assert r.status_code == 200, r.text
    expected, _ = torch_logits_and_grad(torch, net, x.astype(np.float64)[None], 7)
    wire = decode_json(r.json())["layers"][-1]["output"]
    np.testing.assert_allclose(wire, expected, rtol=1e-5, atol=1e-6)  # float32 on the wire
    assert rel(last(export_npz(client), "output"), expected) < TOL  # float64, from the session's export


def test_a_colour_net_uploaded_runs_every_pass_and_its_input_gradient_is_pytorch_s(client: TestClient, colour,
                                                                                    torch) -> None:
    net, data = colour
    labels = "plane, car, bird, cat, deer, dog, frog, horse, ship, truck"
    r = upload(client, data, "colour.onnx", labels=labels)
    assert r.status_code == 200, r.text
    summary = r.json()
    assert summary["input_shape"] == [3, 32, 32] and summary["preprocessing"] == "resize"
    assert summary["class_labels"][3] == "cat" and len(summary["class_labels"]) == 10
    x = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    r = client.post("/api/forward", json={"input": encode_input(x)})
    assert r.status_code == 200, r.text
    assert len(r.json()["probabilities"]) == 10
    r = client.post("/api/backward", json={"target": 3})
    assert r.status_code == 200, r.text
    grad_wire = decode_json(r.json())["layers"][-1]["grad_input"]
    assert grad_wire.shape == (3, 32, 32)

    arrays = export_npz(client)
    expected_logits, expected_grad = torch_logits_and_grad(torch, net, x.astype(np.float64), 3)
    logits = last(arrays, "output")
    assert rel(logits.reshape(-1), expected_logits) < TOL
    assert rel(first(arrays, "grad_input"), expected_grad) < TOL
    assert arrays["input"].shape == (3, 32, 32)

    weighted = next(layer["name"] for layer in summary["layers"] if layer["params"])
    r = client.post("/api/gradcheck", json={"param": f"{weighted}.W", "samples": 8})
    assert r.status_code == 200, r.text
    assert r.json()["relative_error"] < 1e-6
    r = client.post("/api/step", json={"lr": 0.01})
    assert r.status_code == 200, r.text
    assert r.json()["loss_after"] < r.json()["loss_before"]
    assert_error(client.post("/api/backward", json={"target": 10}), 422, "invalid_request", "target", "10 classes")

    # An image from the page is resized to 32×32, in colour, by the server.
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 40)).save(buf, "PNG")
    r = client.post("/api/forward", json={"image": data_url(buf.getvalue())})
    assert r.status_code == 200, r.text
    shown = decode_json(r.json())["input"]
    assert shown.shape == (3, 32, 32)
    np.testing.assert_allclose(shown[:, 10, 10], [200 / 255, 30 / 255, 40 / 255], atol=1e-6)


def test_user_normalization_applies_to_the_input(client: TestClient, colour) -> None:
    _, data = colour
    r = upload(client, data, "colour.onnx", mean="0.5, 0.5, 0.5", std="0.25, 0.25, 0.25")
    assert r.status_code == 200, r.text
    assert r.json()["mean"] == [0.5] * 3 and r.json()["std"] == [0.25] * 3
    x = np.full((3, 32, 32), 0.75, dtype=np.float32)
    assert client.post("/api/forward", json={"input": encode_input(x)}).status_code == 200
    np.testing.assert_allclose(export_npz(client)["input"], 1.0)  # (0.75 − 0.5) / 0.25


# ------------------------------------------------------------------------ without PyTorch: onnx.helper graphs


@pytest.fixture
def tiny() -> bytes:
    """Conv → Relu → MaxPool → Flatten → Gemm → Softmax on 1×8×8, three classes, labels in its metadata."""
    return small_classifier(np.random.default_rng(0), metadata={"labels": "a, b, c"}).SerializeToString()


def test_a_small_onnx_uploads_and_says_what_the_import_left_out(client: TestClient, tiny: bytes) -> None:
    r = upload(client, tiny, "tiny.onnx")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["input_shape"] == [1, 8, 8] and body["class_labels"] == ["a", "b", "c"]
    assert body["output"] == "probabilities"
    assert [(n["op"], n["action"]) for n in body["notes"]] == [("Softmax", "left out")]
    assert [(layer["name"], layer["output_shape"], layer["params"]) for layer in body["layers"]] == [
        ("conv1", [2, 8, 8], 20), ("relu1", [2, 8, 8], 0), ("pool1", [2, 4, 4], 0), ("flatten1", [32], 0),
        ("dense1", [3], 99)]
    # A drawing is resized to 8×8 in grey; backward, step, reset.
    buf = io.BytesIO()
    Image.new("L", (80, 80), 255).save(buf, "PNG")
    r = client.post("/api/forward", json={"image": data_url(buf.getvalue())})
    assert r.status_code == 200, r.text
    assert decode_json(r.json())["input"].shape == (8, 8)
    assert client.post("/api/backward", json={"target": 2}).status_code == 200
    assert_error(client.post("/api/backward", json={"target": 3}), 422, "invalid_request", "3 classes")
    assert client.post("/api/step", json={"lr": 0.1}).status_code == 200

    r = client.post("/api/reset")
    assert r.status_code == 200 and r.json()["forward"] is None  # the input was made for the uploaded model
    served = client.get("/api/model").json()
    assert served["source"] == "served" and served["input_shape"] == [1, 28, 28] and served["notes"] == []


def test_an_input_of_the_wrong_shape_for_the_uploaded_model_is_refused(client: TestClient, tiny: bytes) -> None:
    assert upload(client, tiny, "tiny.onnx").status_code == 200
    r = client.post("/api/forward", json={"input": encode_input(np.zeros((28, 28)))})
    assert_error(r, 422, "invalid_request", "[28, 28]", "[8, 8]")


def _unsupported() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Resize", ["r"], ["s"], name="upsample"),
             helper.make_node("Flatten", ["s"], ["y"])]
    return model(nodes, [], opset=17).SerializeToString()


def _external() -> bytes:
    proto = small_classifier(np.random.default_rng(0))
    w = proto.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    return proto.SerializeToString()


def _huge() -> bytes:
    proto = small_classifier(np.random.default_rng(0))
    huge = proto.graph.initializer.add()
    huge.name, huge.data_type, huge.raw_data = "huge", TensorProto.FLOAT, b"\0" * 16
    huge.dims.extend([1 << 20, 1 << 20])
    return proto.SerializeToString()


def _colour_too_wide() -> bytes:
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Flatten", ["r"], ["y"])]
    return model(nodes, [], input_shape=(1, 3, 200, 200)).SerializeToString()


@pytest.mark.parametrize(("name", "make", "status", "code", "words"), [
    ("m.onnx", lambda: small_classifier(np.random.default_rng(0)).SerializeToString()[:200], 400, "bad_model_file",
     ("m.onnx", "truncated")),
    ("m.onnx", lambda: b"<html>not a model</html>", 400, "bad_model_file", ("m.onnx", "not")),
    ("m.onnx", _external, 400, "bad_model_file", ("external file", "W1")),
    ("m.onnx", _huge, 400, "bad_model_file", ("initializer 'huge'", "1,099,511,627,776")),
    ("m.npz", lambda: b"PK\x03\x04broken", 400, "bad_model_file", ("m.npz", ".npz")),
    ("m.txt", lambda: b"hello", 400, "bad_model_file", (".onnx", ".npz")),
    ("../../etc/m.onnx", _unsupported, 422, "unsupported_model", ("Resize", "upsample", "opset 17", "Supported:")),
    ("wide.onnx", _colour_too_wide, 422, "unsupported_model", ("200×200", "128")),
], ids=["truncated", "not onnx", "external data", "huge initializer", "broken npz", "not a model name",
        "unsupported operator", "too wide"])
def test_a_hostile_or_unsupported_file_gets_a_4xx_in_plain_words(client: TestClient, name: str, make, status: int,
                                                                 code: str, words: tuple[str, ...]) -> None:
    body = assert_error(upload(client, make(), name), status, code, *words)
    assert "/tmp" not in body["detail"] and "cnn-model-" not in body["detail"]  # the server's folder stays its own
    assert client.get("/api/model").json()["source"] == "served"  # nothing changed


def test_too_large_a_body_is_refused_naming_the_setting(make_client: MakeClient, tiny: bytes) -> None:
    client = make_client(max_model_bytes=1000)
    assert_error(upload(client, tiny + b"\0" * (70 * 1024), "m.onnx"), 413, "too_large", "model file",
                 "CNN_MAX_MODEL_BYTES")
    assert_error(upload(client, tiny + b"\0" * 2000, "m.onnx"), 413, "too_large", "model file", "1,000 bytes")


def test_an_upload_needs_a_multipart_file(client: TestClient) -> None:
    assert_error(client.post("/api/model", json={"file": "x"}), 415, "unsupported_media_type", "multipart")
    assert_error(client.post("/api/model", files={"other": ("m.onnx", b"x")}), 400, "missing_file", "'file'")


def test_labels_and_normalization_that_do_not_fit_are_refused(client: TestClient, tiny: bytes) -> None:
    assert_error(upload(client, tiny, "t.onnx", labels="a, b"), 422, "invalid_request", "3 names", "got 2")
    assert_error(upload(client, tiny, "t.onnx", mean="0.5"), 422, "invalid_request", "mean and std")
    assert_error(upload(client, tiny, "t.onnx", mean="0.5, 0.5", std="1, 1"), 422, "invalid_request", "1 finite")


def test_an_npz_uploads_as_well(client: TestClient, tmp_path: Path) -> None:
    from cnn import build_model, lenet5, save_model

    path = save_model(tmp_path / "mine.npz", build_model(lenet5(), np.random.default_rng(3)))
    r = upload(client, path.read_bytes(), "mine.npz")
    assert r.status_code == 200, r.text
    assert r.json()["format"] == "npz" and r.json()["notes"] == [] and r.json()["total_params"] == 61706


def test_the_app_serves_an_onnx_model_given_as_its_model(make_client: MakeClient, tiny: bytes,
                                                         tmp_path: Path) -> None:
    """cnn-visualizer --model tiny.onnx sets CNN_MODEL_PATH, which these settings stand for."""
    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny)
    client = make_client(model_path=path)
    served = client.get("/api/model").json()
    assert served["source"] == "served" and served["file"] == "tiny.onnx" and served["format"] == "onnx"
    assert served["input_shape"] == [1, 8, 8] and served["class_labels"] == ["a", "b", "c"]
    r = client.post("/api/forward", json={"input": encode_input(np.full((8, 8), 0.5))})
    assert r.status_code == 200, r.text
    assert len(r.json()["probabilities"]) == 3
    assert client.post("/api/backward", json={"target": 1}).status_code == 200


def test_an_uploaded_model_is_kept_by_the_session_s_bytes(client: TestClient, tiny: bytes) -> None:
    r = upload(client, tiny, "tiny.onnx")
    net = client.app.state.services.network  # type: ignore[attr-defined]
    state = SessionState(id="s", params={k: v.copy() for k, v in net.initial_params.items()})
    from app.services.models import read_uploaded_model

    net.use_upload(state, read_uploaded_model(tiny, "tiny.onnx", 10**6))
    back = SessionState.from_bytes(state.to_bytes(), net.initial_params)
    assert back.spec == state.spec and back.model == state.model and r.status_code == 200
    assert all(np.array_equal(back.params[k], v) for k, v in state.params.items())


def test_an_uploaded_model_works_across_processes_on_redis(redis_server: RedisServer, make_client: MakeClient,
                                                           tiny: bytes) -> None:
    url = f"{redis_server.url}/0"
    with redis.Redis.from_url(url) as r:
        r.flushdb()
    one, two = (make_client(session_store=url, session_secret=SECRET) for _ in range(2))
    assert upload(one, tiny, "tiny.onnx").status_code == 200
    cookie = one.cookies.get("cnn_session", domain="testserver.local")
    assert cookie is not None
    two.cookies.set("cnn_session", cookie, domain="testserver.local")
    model_two = two.get("/api/model").json()
    assert model_two["source"] == "uploaded" and model_two["class_labels"] == ["a", "b", "c"]
    r = two.post("/api/forward", json={"input": encode_input(np.full((8, 8), 0.5))})
    assert r.status_code == 200, r.text
    assert one.post("/api/backward", json={"target": 2}).status_code == 200
    assert two.post("/api/step", json={"lr": 0.1}).status_code == 200
    assert one.post("/api/reset").status_code == 200
    assert two.get("/api/model").json()["source"] == "served"


def test_the_websocket_runs_an_uploaded_model_on_an_image_or_an_input(client: TestClient, tiny: bytes) -> None:
    from tests.app.ws_helpers import expect_error, run_pass, send

    assert upload(client, tiny, "tiny.onnx").status_code == 200
    buf = io.BytesIO()
    Image.fromarray(np.tri(40, 40, dtype=np.uint8) * 255).save(buf, "PNG")  # ink below the diagonal
    with client.websocket_connect("/ws") as ws:
        start, layers, _ = run_pass(ws, "forward", image=data_url(buf.getvalue()))
        assert start["input"].shape == (8, 8) and len(layers) == 5  # made again for the 8×8 model
        assert len(start["probabilities"]) == 3
        start, layers, _ = run_pass(ws, "forward", input=encode_input(np.full((8, 8), 0.25)))
        assert start["input"] is None and layers[-1]["output"].shape == (3,)
        send(ws, "forward", mode="run", input=encode_input(np.zeros((28, 28))))
        expect_error(ws, "invalid_request", "[28, 28]", "[8, 8]")
        assert run_pass(ws, "backward", target=2)[0]["loss"] > 0


def test_cnn_visualizer_model_serves_an_onnx_file(monkeypatch: pytest.MonkeyPatch, tiny: bytes,
                                                 tmp_path: Path) -> None:
    """The console script's --model: the app it starts serves the .onnx."""
    import uvicorn

    from app.main import main

    path = tmp_path / "tiny.onnx"
    path.write_bytes(tiny)
    started: dict[str, Any] = {}
    # The server is not started: its run() only records the app it was given.
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, *args, **kwargs: started.update(target=self.config.app))
    monkeypatch.setenv("CNN_MODEL_PATH", "")  # main() sets it: the undo removes it again after the test
    assert main(["--model", str(path), "--port", "8123"]) == 0
    with TestClient(started["target"]) as client:
        served = client.get("/api/model").json()
        assert served["file"] == "tiny.onnx" and served["input_shape"] == [1, 8, 8]
        assert client.post("/api/forward", json={"input": encode_input(np.full((8, 8), 0.5))}).status_code == 200


def test_an_npz_that_would_unpack_or_allocate_far_more_than_it_holds_is_refused(client: TestClient,
                                                                                tmp_path: Path) -> None:
    import json
    import zipfile

    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("param/x.npy", "w",
                                                                                   force_zip64=True) as member:
        for _ in range(100):
            member.write(bytes(2**20))  # 100 MB of zeros: a few hundred KB packed
    assert_error(upload(client, bomb.read_bytes(), "bomb.npz"), 400, "bad_model_file", "bomb.npz", "unpacks to",
                 "104,857,600")

    greedy = tmp_path / "greedy.npz"
    spec = {"input_shape": [1, 28, 28], "layers": [{"type": "Flatten"}, {"type": "Dense", "in_features": 784,
                                                                         "out_features": 3_000_000}]}
    header = {"format": "cnn-visualizer-model", "version": 1, "spec": spec, "metadata": {}}
    np.savez_compressed(greedy, header=np.array(json.dumps(header)), **{"param/dense1.b": np.zeros(3, np.float32)})
    assert_error(upload(client, greedy.read_bytes(), "greedy.npz"), 400, "bad_model_file", "greedy.npz",
                 "2,355,000,000 weights")
    assert client.get("/api/model").json()["source"] == "served"


def test_a_model_whose_maps_are_too_large_to_show_is_refused(client: TestClient) -> None:
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "W1"], ["c"], name="wide", kernel_shape=[1, 1]),
             helper.make_node("Flatten", ["c"], ["y"])]
    proto = model(nodes, [weight("W1", rng, 300, 3, 1, 1)], input_shape=(1, 3, 128, 128))
    assert_error(upload(client, proto.SerializeToString(), "wide.onnx"), 422, "unsupported_model", "wide.onnx",
                 "9,830,400 values")


def test_a_served_model_over_the_visualizer_s_limits_stops_start_up(make_client: MakeClient, tmp_path: Path) -> None:
    path = tmp_path / "wide.onnx"
    path.write_bytes(_colour_too_wide())
    with pytest.raises(RuntimeError, match=r"cannot start: .*wide\.onnx: the model reads 200×200 images; the "
                                           r"visualizer takes at most 128×128"):
        make_client(model_path=path)
