"""The editor's half of the training lab: POST /api/spec/check gives every layer's output shape and parameter count,
or its error with the numbers, past the first error where it can; GET /api/presets gives four trainable specs."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from cnn import lenet5


def check(client: TestClient, spec: Any) -> dict[str, Any]:
    r = client.post("/api/spec/check", json={"spec": spec})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_lenet5_checks_clean_with_every_shape_and_count(client: TestClient) -> None:
    body = check(client, lenet5())
    assert body["ok"] and body["errors"] == []
    assert body["total_params"] == 61706 and body["max_params"] == 1_000_000
    shapes = [row["output_shape"] for row in body["layers"]]
    assert shapes[:3] == [[6, 28, 28], [6, 28, 28], [6, 14, 14]] and shapes[-1] == [10]
    assert [row["params"] for row in body["layers"] if row["params"]] == [156, 2416, 48120, 10164, 850]
    assert all(row["error"] is None and row["checked"] for row in body["layers"])


def test_every_error_shows_at_its_layer_with_the_numbers_and_checking_goes_on(client: TestClient) -> None:
    spec = {"layers": [
        {"type": "Conv2D", "out_channels": 4, "kernel_size": 5, "stride": 2},  # (28 − 5)/2 + 1 = 12.5
        {"type": "ReLU"},
        {"type": "Dense", "out_features": 10},  # nothing flattened before it
    ]}
    body = check(client, spec)
    assert not body["ok"]
    conv, relu, dense = body["layers"]
    assert conv["error"] == ("Conv2D height: stride 2 does not fit: (W − F + 2P)/S + 1 = (28 − 5 + 2·0)/2 + 1 = 12.5 "
                             "is not an integer")
    assert conv["output_shape"] is None and conv["params"] is None
    assert relu["error"] is None and relu["output_shape"] == [4, 12, 12]  # went on with the shape rounded down
    assert dense["error"] == "Dense expects a flat input (D,), got (4, 12, 12); put a Flatten layer before it"
    assert body["errors"] == [f"layer 0 (conv1, Conv2D): {conv['error']}", f"layer 2 (dense1, Dense): {dense['error']}"]
    assert body["total_params"] is None


def test_a_kernel_larger_than_its_padded_input_leaves_the_rest_unchecked(client: TestClient) -> None:
    spec = lenet5()
    spec["layers"][3]["kernel_size"] = 30
    body = check(client, spec)
    assert body["layers"][3]["error"] == "Conv2D height: kernel 30 is larger than its padded input 14 + 2·0 = 14"
    assert body["layers"][3]["checked"]
    rest = body["layers"][4:]
    assert all(not r["checked"] and r["error"] == "not checked: the output shape of layer 3 is unknown" for r in rest)
    assert body["errors"] == ["layer 3 (conv2, Conv2D): Conv2D height: kernel 30 is larger than its padded input "
                              "14 + 2·0 = 14"]


@pytest.mark.parametrize(("spec", "message"), [
    ({"layers": [{"type": "Flatten"}, {"type": "Dense", "out_features": 7}]},
     "the last layer gives [7]; a digit classifier ends in 10 outputs, one per digit (a Dense layer with "
     "out_features 10)"),
    ({"input_shape": [3, 32, 32], "layers": [{"type": "Flatten"}, {"type": "Dense", "out_features": 10}]},
     "input_shape is [3, 32, 32]; MNIST digits are [1, 28, 28]"),
    ({"layers": []}, 'layers must be a non-empty list of layers such as {"type": "ReLU"}'),
    ({"layers": [{"type": "Conv3D"}, {"type": "Flatten"}, {"type": "Dense", "out_features": 10}]},
     "layer 0 (conv3d1, Conv3D): unknown layer type 'Conv3D'; known types: Conv2D, MaxPool2D, AvgPool2D, Dense, "
     "Flatten, Dropout, ReLU, Sigmoid, Tanh"),
    ({"layers": [{"type": "Flatten"}, {"type": "Dense", "out_features": 10, "units": 3}]},
     "layer 1 (dense1, Dense): unknown arguments ['units']; it takes ['in_features', 'out_features']"),
    ([1, 2], 'a spec is a JSON object: {"input_shape": [1, 28, 28], "layers": [...]}'),
])
def test_spec_problems_are_named(client: TestClient, spec: Any, message: str) -> None:
    body = check(client, spec)
    assert not body["ok"]
    assert any(e.startswith(message) for e in body["errors"]), body["errors"]  # the known types may grow


def test_a_network_over_the_parameter_limit_says_so(make_client: Any) -> None:
    client = make_client(train_max_params=50_000)
    body = check(client, lenet5())
    assert body["errors"] == ["the network has 61,706 parameters, more than the limit of 50,000 "
                              "(CNN_TRAIN_MAX_PARAMS)"]


def test_presets_are_four_trainable_specs(client: TestClient) -> None:
    presets = client.get("/api/presets").json()["presets"]
    assert [p["name"] for p in presets] == ["lenet5", "lenet1998", "tiny", "deep_sigmoid"]
    for preset in presets:
        body = check(client, preset["spec"])
        assert body["ok"], (preset["name"], body["errors"])
        assert body["total_params"] == preset["total_params"]
    kinds = {p["name"]: [layer["type"] for layer in p["spec"]["layers"]] for p in presets}
    assert "Tanh" in kinds["lenet1998"] and "AvgPool2D" in kinds["lenet1998"] and "ReLU" not in kinds["lenet1998"]
    assert sum(k in ("Conv2D", "Dense") for k in kinds["tiny"]) == 2
    assert kinds["deep_sigmoid"].count("Sigmoid") >= 6
