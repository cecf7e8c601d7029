"""Seed 001: the output-size rule, its invalid-stride example, AlexNet's im2col, and the VGG16 summary table."""

import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from cnn import Conv2D, ShapeError, build_model, summary, vgg16
from cnn.layers.im2col import im2col

# Seed 001's Keras summary of VGG16, the rows with weights (convolution2d_1 … dense_3), in order.
VGG16_PARAMS = [
    1792, 36928, 73856, 147584, 295168, 590080, 590080, 1180160, 2359808, 2359808, 2359808, 2359808, 2359808,
    102764544, 16781312, 4097000,
]
# The same table's output shapes of every conv, pool, flatten and dense row (zero-padding rows are folded into our
# convs, dropout and ReLU rows keep their input's shape).
VGG16_SHAPES = [
    ("Conv2D", (64, 224, 224)), ("Conv2D", (64, 224, 224)), ("MaxPool2D", (64, 112, 112)),
    ("Conv2D", (128, 112, 112)), ("Conv2D", (128, 112, 112)), ("MaxPool2D", (128, 56, 56)),
    ("Conv2D", (256, 56, 56)), ("Conv2D", (256, 56, 56)), ("Conv2D", (256, 56, 56)), ("MaxPool2D", (256, 28, 28)),
    ("Conv2D", (512, 28, 28)), ("Conv2D", (512, 28, 28)), ("Conv2D", (512, 28, 28)), ("MaxPool2D", (512, 14, 14)),
    ("Conv2D", (512, 14, 14)), ("Conv2D", (512, 14, 14)), ("Conv2D", (512, 14, 14)), ("MaxPool2D", (512, 7, 7)),
    ("Flatten", (25088,)), ("Dense", (4096,)), ("Dense", (4096,)), ("Dense", (1000,)),
]
VGG16_TOTAL = 138_357_544


def test_vgg16_parameter_counts_match_the_seed_table():
    rows = summary(vgg16())
    weighted = [row for row in rows if row.type in ("Conv2D", "Dense")]
    assert [row.params for row in weighted] == VGG16_PARAMS
    assert rows.total_params == VGG16_TOTAL
    assert sum(VGG16_PARAMS) == VGG16_TOTAL  # the table adds up, so no parameter hides in another row
    assert all(row.params == 0 for row in rows if row.type not in ("Conv2D", "Dense"))


def test_vgg16_output_shapes_match_the_seed_table():
    rows = summary(vgg16())
    shaped = [(row.type, row.output_shape) for row in rows if row.type in ("Conv2D", "MaxPool2D", "Flatten", "Dense")]
    assert shaped == VGG16_SHAPES
    # ReLU and Dropout keep the shape of the row before them.
    for before, row in zip(rows, rows[1:], strict=False):
        if row.type in ("ReLU", "Dropout"):
            assert row.output_shape == before.output_shape
    assert rows.input_shape == (3, 224, 224)
    assert "138,357,544" in str(rows)


def test_vgg16_summary_allocates_nothing_big():
    tracemalloc.start()
    try:
        rows = summary(vgg16())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows.total_params == VGG16_TOTAL
    # The weights would take 138 M × 8 B ≈ 1.1 GB; a summary from shapes alone needs a few kilobytes.
    assert peak < 50 * 2**20, f"summary(vgg16()) peaked at {peak / 2**20:.1f} MiB"


def _one_conv(input_shape, out_channels, kernel_size, stride, padding=0):
    return {
        "input_shape": list(input_shape),
        "layers": [{"type": "Conv2D", "out_channels": out_channels, "kernel_size": kernel_size, "stride": stride,
                    "padding": padding}],
    }


@pytest.mark.parametrize(
    ("input_shape", "filters", "kernel", "stride", "expected"),
    [
        ((1, 7, 7), 1, 3, 1, (1, 5, 5)),  # seed 001: 7×7 input, F=3, S=1 → 5×5
        ((1, 7, 7), 1, 3, 2, (1, 3, 3)),  # S=2 → 3×3
        ((4, 11, 11), 2, 5, 2, (2, 4, 4)),  # 11×11×4 input, F=5, S=2 → (11 − 5)/2 + 1 = 4
    ],
)
def test_output_size_rule_examples(input_shape, filters, kernel, stride, expected):
    rows = summary(_one_conv(input_shape, filters, kernel, stride))
    assert rows[0].output_shape == expected
    assert rows[0].params == filters * input_shape[0] * kernel * kernel + filters

    conv = Conv2D(input_shape[0], filters, kernel, stride=stride, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((2, *input_shape))
    assert conv.forward(x).shape == (2, *expected)


def test_seed_001_conv_example_v_entries():
    """Seed 001's V[i, j, d] = np.sum(X[2i:2i+5, 2j:2j+5, :] * W_d) + b_d on an 11×11×4 input (HWC there, CHW here)."""
    rng = np.random.default_rng(2)
    conv = Conv2D(4, 2, 5, stride=2, rng=rng)
    conv.params["b"][...] = [0.5, -0.25]
    x = rng.standard_normal((1, 4, 11, 11))
    V = conv.forward(x)[0]
    W0, W1 = conv.params["W"]
    assert V[0, 0, 0] == pytest.approx(np.sum(x[0, :, :5, :5] * W0) + 0.5, abs=1e-12)
    assert V[0, 1, 0] == pytest.approx(np.sum(x[0, :, 2:7, :5] * W0) + 0.5, abs=1e-12)
    assert V[0, 3, 0] == pytest.approx(np.sum(x[0, :, 6:11, :5] * W0) + 0.5, abs=1e-12)
    assert V[1, 3, 2] == pytest.approx(np.sum(x[0, :, 6:11, 4:9] * W1) - 0.25, abs=1e-12)


def test_stride_that_does_not_fit_is_refused_with_4_5_and_the_layer_name():
    spec = _one_conv((1, 10, 10), 1, 3, 2)
    spec["layers"][0]["name"] = "wide_conv"
    with pytest.raises(ShapeError) as info:
        summary(spec)
    message = str(info.value)
    assert "4.5" in message
    assert "wide_conv" in message
    assert "Conv2D" in message
    assert "(10 − 3 + 2·0)/2 + 1" in message

    with pytest.raises(ShapeError, match=r"4\.5") as info:
        build_model(spec)
    assert "wide_conv" in str(info.value)

    conv = Conv2D(1, 1, 3, stride=2, rng=np.random.default_rng(0))
    with pytest.raises(ShapeError, match=r"Conv2D height: stride 2 does not fit.*= 4\.5 is not an integer"):
        conv.forward(np.zeros((1, 1, 10, 10)))


ALEXNET = {
    "input_shape": [3, 227, 227],
    "layers": [{"type": "Conv2D", "name": "conv1", "out_channels": 96, "kernel_size": 11, "stride": 4}],
}


def test_alexnet_first_layer_shape_and_params():
    (row,) = summary(ALEXNET)
    assert row.output_shape == (96, 55, 55)
    assert row.params == 34_944  # 96 × (11·11·3 + 1)


def test_alexnet_im2col_matrix_and_its_column_order():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 227, 227))
    cols = im2col(x, 11, 11, 4, 0)
    assert cols.shape == (363, 3025)  # 11·11·3 rows, 55·55 columns (seed 001)

    # Documented order: rows (c, kh, kw), columns (n, oh, ow), both in C order.
    assert_array_equal(cols[:, 0], x[0, :, 0:11, 0:11].ravel())
    oh, ow = 7, 30
    assert_array_equal(cols[:, oh * 55 + ow], x[0, :, 4 * oh : 4 * oh + 11, 4 * ow : 4 * ow + 11].ravel())
    assert_array_equal(cols[:, -1], x[0, :, 216:227, 216:227].ravel())
    row = 1 * 121 + 2 * 11 + 5  # (c=1, kh=2, kw=5)
    assert_array_equal(cols[row].reshape(55, 55), x[0, 1, 2 : 2 + 4 * 55 : 4, 5 : 5 + 4 * 55 : 4])

    model = build_model(ALEXNET, rng=np.random.default_rng(1))
    W = model.named_params()["conv1.W"]
    model.named_params()["conv1.b"][...] = rng.standard_normal(96)
    b = model.named_params()["conv1.b"]
    out = (W.reshape(96, -1) @ cols + b[:, None]).reshape(96, 55, 55)  # the 96×363 weight matrix times the columns
    assert_allclose(model.forward(x)[0], out, rtol=0, atol=1e-12)
