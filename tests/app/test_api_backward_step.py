"""The REST API's backward and step, numbers checked against the arithmetic they claim (softmax − one-hot, δ·xᵀ,
max-pool routing, −lr·∂E/∂w), not just their shapes.

Every error is JSON {"detail", "code"} with a 4xx status; the tests check the status, the code and the words a person
reads, and that the session still works afterwards. Helpers are in api_helpers.py; the fixtures seven, forwarded and
backwarded in conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.app.api_helpers import F32, NAMES, SHAPES, MakeClient, assert_error, layers_by_name, outputs, post_png
from tests.app.wire import decode_json

# Backward


def test_backward_before_any_forward(client: TestClient) -> None:
    assert_error(client.post("/api/backward", json={"target": 3}), 409, "no_forward_yet", "draw or upload",
                 "forward first")


@pytest.mark.parametrize(
    "body,words",
    [({"target": 10}, ("target", "less than or equal to 9")), ({"target": -1}, ("target", "greater than or equal")),
     ({"target": "x"}, ("target", "integer")), ({"target": 2.5}, ("target", "integer")), ({}, ("target", "required")),
     ({"target": 3, "loss": "hinge"}, ("loss", "cross_entropy", "mse")), ({"target": None}, ("target",))],
    ids=["10", "-1", "x", "2.5", "missing", "unknown loss", "null"],
)
def test_backward_refuses_a_bad_request_by_field_name(client: TestClient, forwarded: dict[str, Any],
                                                      body: dict[str, Any], words: tuple[str, ...]) -> None:
    assert_error(client.post("/api/backward", json=body), 422, "invalid_request", *words)
    assert client.post("/api/backward", json={"target": 3}).status_code == 200


def test_backward_response(backwarded: dict[str, Any], forwarded: dict[str, Any]) -> None:
    assert backwarded["target"] == 3 and backwarded["loss_name"] == "cross_entropy"
    assert backwarded["prediction"] == 7
    assert backwarded["probabilities"] == forwarded["probabilities"]  # the same weights, the same input
    # E = −log p_target
    assert backwarded["loss"] > 0
    assert backwarded["loss"] == pytest.approx(-np.log(backwarded["probabilities"][3]), rel=1e-9)
    assert [layer["index"] for layer in backwarded["layers"]] == list(range(11, -1, -1))
    assert [layer["name"] for layer in backwarded["layers"]] == NAMES[::-1]
    for layer in backwarded["layers"]:
        assert layer["phase"] == "backward"
        assert layer["delta_of"] == ("net" if layer["kind"] in ("Conv2D", "Dense") else "out")
        assert list(decode_json(layer["delta"]).shape) == SHAPES[layer["index"]]
        assert set(layer["grads"]) == ({"W", "b"} if layer["kind"] in ("Conv2D", "Dense") else set())
        assert (layer["routing"] is not None) == (layer["kind"] == "MaxPool2D")
        assert (layer["grad_input"] is not None) == (layer["index"] == 0)


def test_the_last_delta_is_softmax_minus_one_hot(backwarded: dict[str, Any]) -> None:
    delta = decode_json(layers_by_name(backwarded)["dense3"]["delta"])
    expected = np.array(backwarded["probabilities"]) - np.eye(10)[3]
    np.testing.assert_allclose(delta, expected, rtol=1e-6, atol=1e-9)
    assert delta[3] == pytest.approx(-1.0, abs=1e-4) and delta[7] == pytest.approx(1.0, abs=1e-4)


def test_mse_loss(client: TestClient, forwarded: dict[str, Any]) -> None:
    r = client.post("/api/backward", json={"target": 3, "loss": "mse"})
    assert r.status_code == 200, r.text
    body = r.json()
    y = outputs(forwarded)["dense3"].astype(np.float64)
    t = np.eye(10)[3]
    assert body["loss_name"] == "mse"
    assert body["loss"] == pytest.approx(0.5 * np.sum((y - t) ** 2), rel=1e-6)  # ½Σ(y − t)², seed 002
    np.testing.assert_allclose(decode_json(layers_by_name(body)["dense3"]["delta"]), y - t, **F32)  # δ = y − t
    r = client.post("/api/step", json={"lr": 0.001})  # a step uses the loss of the last backward
    assert r.status_code == 200 and r.json()["loss_before"] == pytest.approx(body["loss"], rel=1e-12)


def test_dense_weight_gradients_are_outer_products_delta_x(backwarded: dict[str, Any],
                                                           forwarded: dict[str, Any]) -> None:
    out = outputs(forwarded)
    layers = layers_by_name(backwarded)
    for dense, x_name in (("dense1", "flatten1"), ("dense2", "relu3"), ("dense3", "relu4")):
        grads = layers[dense]["grads"]
        assert "outer" in grads["W"], f"{dense}.W should travel as its two factors"
        delta = decode_json(layers[dense]["delta"]).astype(np.float64)
        x = out[x_name].astype(np.float64)
        dW = decode_json(grads["W"])
        assert dW.shape == (delta.size, x.size)
        np.testing.assert_allclose(dW, np.outer(delta, x), rtol=1e-5, atol=1e-6 * np.abs(dW).max())
        np.testing.assert_allclose(decode_json(grads["b"]), delta, **F32)  # ∂E/∂b = δ


def test_conv_bias_gradients_sum_the_sensitivity_map(backwarded: dict[str, Any]) -> None:
    layers = layers_by_name(backwarded)
    for conv in ("conv1", "conv2"):
        delta = decode_json(layers[conv]["delta"]).astype(np.float64)
        np.testing.assert_allclose(decode_json(layers[conv]["grads"]["b"]), delta.sum(axis=(1, 2)), rtol=1e-5,
                                   atol=1e-7)
    assert decode_json(layers["conv1"]["grads"]["W"]).shape == (6, 1, 5, 5)
    assert decode_json(layers["conv2"]["grads"]["W"]).shape == (16, 6, 5, 5)


def test_relu_passes_the_gradient_only_where_its_input_was_positive(backwarded: dict[str, Any],
                                                                     forwarded: dict[str, Any]) -> None:
    out = outputs(forwarded)
    layers = layers_by_name(backwarded)
    for relu, before in (("relu1", "conv1"), ("relu2", "conv2"), ("relu3", "dense1"), ("relu4", "dense2")):
        dout = decode_json(layers[relu]["delta"])
        # The layer before's δ = ∂E/∂net = ∂E/∂out · f'(net), f' = 1 where net > 0
        np.testing.assert_array_equal(decode_json(layers[before]["delta"]), dout * (out[before] > 0))
    np.testing.assert_array_equal(decode_json(layers["pool2"]["delta"]),
                                  decode_json(layers["flatten1"]["delta"]).reshape(16, 5, 5))


def test_max_pool_routing_points_at_the_maxima_and_carries_the_error_there(backwarded: dict[str, Any],
                                                                           forwarded: dict[str, Any]) -> None:
    out = outputs(forwarded)
    layers = layers_by_name(backwarded)
    for pool, before in (("pool1", "relu1"), ("pool2", "relu2")):
        routing = decode_json(layers[pool]["routing"]).astype(np.int64)
        x, y = out[before], out[pool]
        C, OH, OW = y.shape
        assert routing.shape == (C, OH, OW, 2)
        c, i, j = np.indices((C, OH, OW))
        rows, cols = routing[..., 0], routing[..., 1]
        assert ((rows // 2 == i) & (cols // 2 == j)).all()  # inside its own 2×2 window
        np.testing.assert_array_equal(x[c, rows, cols], y)  # at a cell holding the maximum
        # The error of each output goes to that cell and nowhere else: ∂E/∂(relu output) is the scattered δ
        scattered = np.zeros_like(x)
        scattered[c, rows, cols] = decode_json(layers[pool]["delta"])
        np.testing.assert_array_equal(decode_json(layers[before]["delta"]), scattered)


def test_the_first_layer_carries_the_saliency_map(backwarded: dict[str, Any]) -> None:
    first = backwarded["layers"][-1]
    assert first["index"] == 0
    saliency = decode_json(first["grad_input"])
    assert saliency.shape == (1, 28, 28) and np.abs(saliency).max() > 0


# Step


def test_step_before_any_forward(client: TestClient) -> None:
    assert_error(client.post("/api/step", json={"lr": 0.01}), 409, "no_forward_yet", "draw or upload")


def test_step_before_backward(client: TestClient, forwarded: dict[str, Any]) -> None:
    assert_error(client.post("/api/step", json={"lr": 0.01}), 409, "no_backward_yet", "target", "backward")


@pytest.mark.parametrize(
    "body,words",
    [({"lr": 0}, ("lr", "greater than 0")), ({"lr": -0.1}, ("lr", "greater than 0")), ({}, ("lr", "required")),
     ({"lr": "fast"}, ("lr", "number")), ({"lr": 0.01, "momentum": 1}, ("momentum", "less than 1")),
     ({"lr": 0.01, "momentum": 1.5}, ("momentum", "less than 1")),
     ({"lr": 0.01, "momentum": -0.1}, ("momentum", "greater than or equal to 0")),
     ({"lr": 11}, ("learning rate 11", "above the limit of 10"))],
    ids=["0", "negative", "missing", "text", "momentum 1", "momentum 1.5", "negative momentum", "above default limit"],
)
def test_step_refuses_bad_values(client: TestClient, backwarded: dict[str, Any], body: dict[str, Any],
                                 words: tuple[str, ...]) -> None:
    assert_error(client.post("/api/step", json=body), 422, "invalid_request", *words)
    r = client.post("/api/step", json={"lr": 0.001})
    assert r.status_code == 200 and r.json()["steps"] == 1  # nothing was applied by the refused ones


def test_step_above_a_configured_limit(make_client: MakeClient, seven: bytes) -> None:
    client = make_client(max_learning_rate=1.0)
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3})
    assert_error(client.post("/api/step", json={"lr": 2}), 422, "invalid_request", "learning rate 2",
                 "above the limit of 1")
    assert client.post("/api/step", json={"lr": 1.0}).status_code == 200  # the limit itself is allowed


def test_a_step_lowers_the_loss_and_moves_probability_to_the_target(client: TestClient,
                                                                     backwarded: dict[str, Any]) -> None:
    r = client.post("/api/step", json={"lr": 0.001})
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["lr"], s["momentum"], s["steps"]) == (0.001, 0.0, 1)
    assert s["loss_before"] == pytest.approx(backwarded["loss"], rel=1e-12)
    assert s["probabilities_before"] == pytest.approx(backwarded["probabilities"], rel=1e-12)
    assert s["loss_after"] < s["loss_before"]
    assert s["probabilities"][3] > s["probabilities_before"][3]
    assert s["loss_after"] == pytest.approx(-np.log(s["probabilities"][3]), rel=1e-9)
    assert s["loss_history"] == [s["loss_after"]]
    assert s["prediction_before"] == 7
    assert [layer["name"] for layer in s["layers"]] == ["conv1", "conv2", "dense1", "dense2", "dense3"]
    assert all(layer["phase"] == "update" for layer in s["layers"])


def test_repeated_steps_give_a_falling_loss_history(client: TestClient, backwarded: dict[str, Any]) -> None:
    for n in range(1, 6):
        s = client.post("/api/step", json={"lr": 0.001}).json()
        assert s["steps"] == n and len(s["loss_history"]) == n
    history = s["loss_history"]
    assert all(b < a for a, b in zip(history, history[1:], strict=False)), history
    assert history[0] < backwarded["loss"]
    assert s["prediction"] == 3  # five small steps taught it the (wrong) label


def test_steps_with_momentum(client: TestClient, backwarded: dict[str, Any]) -> None:
    """v ← μ·v + g, Δ = −lr·v: the second step's Δ is μ times the first's plus −lr times the new gradient."""
    lr, mu = 0.0005, 0.9

    def conv1_delta(step: dict[str, Any]) -> np.ndarray:
        return decode_json(layers_by_name(step)["conv1"]["params"]["W"]["delta"]).astype(np.float64)

    def conv1_grad() -> np.ndarray:
        b = client.post("/api/backward", json={"target": 3}).json()  # the gradient at the current weights
        return decode_json(layers_by_name(b)["conv1"]["grads"]["W"]).astype(np.float64)

    g1 = conv1_grad()
    first = client.post("/api/step", json={"lr": lr, "momentum": mu}).json()
    g2 = conv1_grad()  # a backward between steps keeps the velocity
    second = client.post("/api/step", json={"lr": lr, "momentum": mu}).json()
    assert second["loss_after"] < first["loss_after"] < first["loss_before"]
    d1, d2 = conv1_delta(first), conv1_delta(second)
    np.testing.assert_allclose(d1, -lr * g1, rtol=1e-5, atol=1e-6 * np.abs(d1).max())
    np.testing.assert_allclose(d2, mu * d1 - lr * g2, rtol=1e-4, atol=1e-5 * np.abs(d2).max())
    assert not np.allclose(d2, -lr * g2, rtol=1e-2)  # the velocity really contributed
    assert "outer" not in layers_by_name(first)["dense1"]["params"]["W"]["delta"]  # with momentum Δ is not rank one
    # A reset forgets the velocity: the next momentum step is plain −lr·g again
    client.post("/api/reset")
    g = conv1_grad()
    d = conv1_delta(client.post("/api/step", json={"lr": lr, "momentum": mu}).json())
    np.testing.assert_allclose(d, -lr * g, rtol=1e-5, atol=1e-6 * np.abs(d).max())


def test_update_payload_delta_after(client: TestClient, backwarded: dict[str, Any]) -> None:
    """Δ and the values after; the values before are the weights the client already holds (GET /api/params)."""
    lr = 0.001
    held = {conv: decode_json(client.get(f"/api/params/{conv}").json()["params"]) for conv in ("conv1", "conv2")}
    s = client.post("/api/step", json={"lr": lr}).json()
    updates = layers_by_name(s)
    grads = layers_by_name(backwarded)
    for conv in ("conv1", "conv2"):
        for key in ("W", "b"):
            p = updates[conv]["params"][key]
            assert "before" not in p  # the client has them: they do not travel again
            before, delta, after = held[conv][key], decode_json(p["delta"]), decode_json(p["after"])
            assert list(before.shape) == p["shape"] == list(delta.shape) == list(after.shape)
            scale = np.abs(before).max()
            np.testing.assert_allclose(after.astype(np.float64) - before, delta, rtol=0, atol=2e-7 * scale)
            # Δ = −lr·∂E/∂w with the gradient the backward reported
            np.testing.assert_allclose(delta, -lr * decode_json(grads[conv]["grads"][key]), rtol=1e-5,
                                       atol=1e-7 * np.abs(delta).max())
            assert p["delta_abs_max"] == pytest.approx(float(np.abs(delta).max()), rel=1e-6)
            assert p["before_norm"] == pytest.approx(float(np.linalg.norm(before)), rel=1e-6)
            assert p["after_norm"] == pytest.approx(float(np.linalg.norm(after)), rel=1e-6)
    # The weights now served are the "after" values
    served = client.get("/api/params/conv1").json()
    np.testing.assert_array_equal(decode_json(served["params"]["W"]), decode_json(updates["conv1"]["params"]["W"]
                                                                                  ["after"]))
    assert served["steps"] == 1


def test_the_dense1_update_is_minus_lr_delta_x(client: TestClient, backwarded: dict[str, Any],
                                               forwarded: dict[str, Any]) -> None:
    lr = 0.001
    s = client.post("/api/step", json={"lr": lr}).json()
    p = layers_by_name(s)["dense1"]["params"]["W"]
    assert p["after"] is None  # 48 120 values: only Δ is sent
    assert "outer" in p["delta"] and p["delta"]["scale"] == -lr
    delta = decode_json(layers_by_name(backwarded)["dense1"]["delta"]).astype(np.float64)
    x = outputs(forwarded)["flatten1"].astype(np.float64)
    got = decode_json(p["delta"])
    assert got.shape == (120, 400) and p["shape"] == [120, 400]
    np.testing.assert_allclose(got, -lr * np.outer(delta, x), rtol=1e-5, atol=1e-6 * np.abs(got).max())
    assert p["delta_abs_max"] == pytest.approx(float(np.abs(got).max()), rel=1e-5)


def test_a_step_that_would_blow_up_the_weights_is_refused_and_undone(make_client: MakeClient, seven: bytes,
                                                                     digit_png: Callable[..., bytes]) -> None:
    client = make_client(max_learning_rate=1e300)
    before = post_png(client, seven).json()["probabilities"]
    client.post("/api/backward", json={"target": 3})
    with np.errstate(all="ignore"):
        r = client.post("/api/step", json={"lr": 1e300})
    assert_error(r, 422, "step_diverged", "learning rate 1e+300", "smaller learning rate")
    assert post_png(client, seven).json()["probabilities"] == before  # bit for bit: nothing changed
    params = client.get("/api/params/dense3").json()
    assert params["steps"] == 0 and np.isfinite(decode_json(params["params"]["W"])).all()
    # The session stays usable: a sensible step goes through as the first one
    client.post("/api/backward", json={"target": 3})
    s = client.post("/api/step", json={"lr": 0.001}).json()
    assert s["steps"] == 1 and s["loss_history"] == [s["loss_after"]]
    assert s["probabilities_before"] == pytest.approx(before, rel=1e-12)


@pytest.mark.parametrize("lr", [1e300, 1e200, 1e100])
def test_a_refused_step_never_leaves_a_500(make_client: MakeClient, seven: bytes, lr: float) -> None:
    client = make_client(max_learning_rate=1e300)
    post_png(client, seven)
    client.post("/api/backward", json={"target": 3, "loss": "mse"})
    with np.errstate(all="ignore"):
        r = client.post("/api/step", json={"lr": lr})
    assert r.status_code in (200, 422), r.text
    if r.status_code == 422:
        assert_error(r, 422, "step_diverged", "smaller learning rate")
