"""Specs: normalize_spec, build_model and summary, their error paths and what they fill in.

Every error path checks the message a person reads.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cnn import (
    LAYER_TYPES,
    ShapeError,
    SpecError,
    build_model,
    lenet5,
    normalize_spec,
    summary,
)
from tests.cnn.spec_helpers import CONV, spec_of

# normalize_spec / build_model / summary: error paths


def test_unknown_layer_type_lists_the_known_ones():
    with pytest.raises(SpecError) as info:
        normalize_spec(spec_of(CONV, {"type": "Conv3D"}))
    message = str(info.value)
    assert message.startswith("layer 1: unknown layer type 'Conv3D'; known types: ")
    for kind in LAYER_TYPES:
        assert kind in message


def test_a_layer_that_is_not_a_dict_is_refused_with_a_message_that_says_so():
    # A bare string "ReLU" must not get "unknown layer type 'ReLU'; known types: …, ReLU, …", which contradicts itself.
    with pytest.raises(SpecError) as info:
        normalize_spec(spec_of("ReLU"))
    assert "layer 0" in str(info.value)
    assert "unknown layer type" not in str(info.value)
    assert "dict" in str(info.value)


def test_unknown_argument_is_named_with_the_accepted_ones():
    bad = {"type": "Conv2D", "out_channels": 2, "kernal_size": 3}
    with pytest.raises(SpecError, match=r"layer 0 \(conv1, Conv2D\): unknown arguments \['kernal_size'\]; it takes "
                                        r"\['in_channels', 'kernel_size', 'out_channels', 'padding', 'stride'\]"):
        normalize_spec(spec_of(bad))


@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ({"type": "Conv2D", "kernel_size": 3}, r"layer 0 \(conv1, Conv2D\): missing arguments \['out_channels'\]"),
        ({"type": "MaxPool2D"}, r"layer 0 \(pool1, MaxPool2D\): missing arguments \['size'\]"),
    ],
)
def test_missing_argument_is_named(layer, message):
    with pytest.raises(SpecError, match=message):
        normalize_spec(spec_of(layer))


def test_missing_dense_argument_is_named():
    with pytest.raises(SpecError, match=r"layer 1 \(dense1, Dense\): missing arguments \['out_features'\]"):
        normalize_spec(spec_of({"type": "Flatten"}, {"type": "Dense"}))


@pytest.mark.parametrize("input_shape", ["1x28x28", 28, [], [1, 0, 28], [1, 28.0, 28], [True, 8, 8], None])
def test_input_shape_must_be_a_list_of_positive_integers(input_shape):
    spec = {"input_shape": input_shape, "layers": [{"type": "ReLU"}]}
    with pytest.raises(SpecError, match=r"input_shape must be a list of positive integers, got "):
        normalize_spec(spec)


def test_bad_dtype_is_refused():
    with pytest.raises(SpecError, match=r"dtype must be one of \('float64', 'float32'\), got 'int8'"):
        normalize_spec(spec_of(CONV, dtype="int8"))


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ([1, 2], SpecError, r"a spec is a dict with input_shape and layers, got list"),
        (spec_of(CONV, extra=1), SpecError,
         r"unknown spec keys \['extra'\]; expected input_shape, layers, dtype, name"),
        (spec_of(), SpecError, r"layers must be a non-empty list of layer dicts"),
        (spec_of({"type": "ReLU", "name": "a"}, {"type": "Tanh", "name": "a"}), SpecError,
         r"layer names must be unique"),
    ],
    ids=["not-a-dict", "unknown-key", "no-layers", "duplicate-names"],
)
def test_malformed_specs(spec, error, message):
    with pytest.raises(error, match=message):
        normalize_spec(spec)


def test_dense_in_features_that_do_not_match_name_the_layer_and_both_numbers():
    spec = spec_of({"type": "Flatten"}, {"type": "Dense", "name": "fc", "in_features": 100, "out_features": 10},
                   input_shape=(1, 28, 28))
    with pytest.raises(ShapeError, match=r"layer 1 \(fc, Dense\): Dense has in_features=100 but its input has 784 "
                                         r"features"):
        normalize_spec(spec)


def test_conv_in_channels_that_do_not_match_are_refused():
    spec = spec_of({"type": "Conv2D", "in_channels": 3, "out_channels": 2, "kernel_size": 3})
    with pytest.raises(ShapeError, match=r"layer 0 \(conv1, Conv2D\): Conv2D expects 3 input channels, got 1"):
        normalize_spec(spec)


def test_kernel_larger_than_the_padded_input_names_the_numbers():
    spec = spec_of({"type": "Conv2D", "out_channels": 2, "kernel_size": 7, "padding": 0}, input_shape=(1, 5, 5))
    with pytest.raises(ShapeError, match=r"layer 0 \(conv1, Conv2D\): Conv2D height: kernel 7 is larger than its "
                                         r"padded input 5 \+ 2·0 = 5"):
        summary(spec)
    spec = spec_of({"type": "Conv2D", "out_channels": 2, "kernel_size": [3, 7], "padding": 1}, input_shape=(1, 5, 4))
    with pytest.raises(ShapeError, match=r"Conv2D width: kernel 7 is larger than its padded input 4 \+ 2·1 = 6"):
        summary(spec)


def test_dense_without_flatten_on_a_3d_input_is_refused():
    spec = spec_of({"type": "Dense", "out_features": 10}, input_shape=(1, 28, 28))
    with pytest.raises(ShapeError, match=r"layer 0 \(dense1, Dense\): .*\(1, 28, 28\)"):
        normalize_spec(spec)


def test_dense_without_flatten_says_to_add_a_flatten_layer():
    # A spec gets the same "put a Flatten layer before it" hint as a Sequential built by hand.
    spec = spec_of({"type": "Dense", "in_features": 784, "out_features": 10}, input_shape=(1, 28, 28))
    with pytest.raises(ShapeError, match="put a Flatten layer before it"):
        normalize_spec(spec)


def test_bad_kernel_size_type_is_refused_with_the_layer():
    with pytest.raises(ShapeError, match=r"layer 0 \(conv1, Conv2D\): kernel_size must be an integer or a pair"):
        normalize_spec(spec_of({"type": "Conv2D", "out_channels": 2, "kernel_size": "3"}))


@pytest.mark.parametrize(
    "layer",
    [
        {"type": "Conv2D", "out_channels": 6.5, "kernel_size": 3},
        {"type": "Conv2D", "out_channels": 0, "kernel_size": 3},
        {"type": "Conv2D", "out_channels": -2, "kernel_size": 3},
    ],
    ids=["float", "zero", "negative"],
)
def test_non_positive_or_fractional_channel_counts_are_refused(layer):
    # Sizes are checked: else summary reports an output shape (6.5, 6, 6) with 65.0 parameters, or a negative count.
    with pytest.raises((SpecError, ShapeError), match=r"layer 0 \(conv1, Conv2D\).*out_channels"):
        summary(spec_of(layer))


@pytest.mark.parametrize("out_features", [0, -3, 2.5])
def test_non_positive_or_fractional_feature_counts_are_refused(out_features):
    spec = spec_of({"type": "Flatten"}, {"type": "Dense", "out_features": out_features})
    with pytest.raises((SpecError, ShapeError), match=r"layer 1 \(dense1, Dense\).*out_features"):
        summary(spec)


@pytest.mark.parametrize("cls", ["MaxPool2D", "AvgPool2D"])
def test_pool_stride_zero_is_refused(cls):
    # Stride 0 is refused by the spec, not mistaken for "the default" (the built model would die in forward).
    with pytest.raises(ShapeError, match=r"stride must be a whole number ≥ 1, got 0"):
        normalize_spec(spec_of({"type": cls, "size": 2, "stride": 0}))


def test_dropout_probability_is_checked_by_the_spec_with_the_layers_name():
    # p = 1.5 is refused by the spec, with the layer named, not only later by build_model.
    with pytest.raises((SpecError, ShapeError), match=r"layer 0 \(dropout1, Dropout\).*\[0, 1\)"):
        normalize_spec(spec_of({"type": "Dropout", "p": 1.5}))


# normalize_spec / build_model / summary: what they fill in


def test_channels_and_features_are_inferred_and_default_names_count_per_kind():
    spec = normalize_spec(lenet5())
    layers = spec["layers"]
    assert [layer["name"] for layer in layers] == [
        "conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "flatten1", "dense1", "relu3", "dense2", "relu4",
        "dense3",
    ]
    assert [layer.get("in_channels") for layer in layers if layer["type"] == "Conv2D"] == [1, 6]
    assert [layer.get("in_features") for layer in layers if layer["type"] == "Dense"] == [400, 120, 84]
    assert spec["name"] == "lenet5" and spec["dtype"] == "float64"
    assert normalize_spec(spec) == spec  # idempotent
    original = lenet5()
    normalize_spec(original)
    assert original == lenet5()  # the argument is not changed
    avg = normalize_spec(spec_of({"type": "AvgPool2D", "size": 2}, {"type": "AvgPool2D", "size": 2}))
    assert [layer["name"] for layer in avg["layers"]] == ["avgpool1", "avgpool2"]


def test_lenet5_summary():
    rows = summary(lenet5())
    assert [(r.name, r.type, r.output_shape, r.params) for r in rows] == [
        ("conv1", "Conv2D", (6, 28, 28), 156),
        ("relu1", "ReLU", (6, 28, 28), 0),
        ("pool1", "MaxPool2D", (6, 14, 14), 0),
        ("conv2", "Conv2D", (16, 10, 10), 2416),
        ("relu2", "ReLU", (16, 10, 10), 0),
        ("pool2", "MaxPool2D", (16, 5, 5), 0),
        ("flatten1", "Flatten", (400,), 0),
        ("dense1", "Dense", (120,), 48120),
        ("relu3", "ReLU", (120,), 0),
        ("dense2", "Dense", (84,), 10164),
        ("relu4", "ReLU", (84,), 0),
        ("dense3", "Dense", (10,), 850),
    ]
    assert rows.total_params == 61_706
    assert "61,706" in str(rows)
    model = build_model(lenet5(), rng=np.random.default_rng(0))
    assert sum(w.size for w in model.named_params().values()) == 61_706
    assert model.shapes == [r.output_shape for r in rows]


def test_float32_spec_gives_float32_params_and_outputs():
    model = build_model(lenet5("float32"), rng=np.random.default_rng(0))
    assert model.dtype == np.float32
    assert all(v.dtype == np.float32 for v in model.named_params().values())
    out = model.forward(np.random.default_rng(1).random((2, 1, 28, 28)))  # float64 input is cast
    assert out.dtype == np.float32
    assert model.spec()["dtype"] == "float32"


def test_same_rng_gives_the_same_model():
    a = build_model(lenet5(), rng=np.random.default_rng(5))
    b = build_model(lenet5(), rng=np.random.default_rng(5))
    for name, value in a.named_params().items():
        assert_array_equal(value, b.named_params()[name])
