"""Property tests: shapes and arithmetic of convolution and pooling across sizes, kernels, strides and paddings."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal

from cnn import AvgPool2D, Conv2D, MaxPool2D, build_model, check_layer, summary
from cnn.layers.im2col import col2im, im2col

FAST = settings(max_examples=100, deadline=None)


def fitting_sizes(kernel: int, stride: int, padding: int, low: int = 1, high: int = 9) -> list[int]:
    """Input sizes in [low, high] for which (H − K + 2P)/S + 1 is a positive integer."""
    spans = {h: h + 2 * padding - kernel for h in range(low, high + 1)}
    return [h for h, span in spans.items() if span >= 0 and span % stride == 0]


@st.composite
def conv_configs(draw):
    stride = draw(st.integers(1, 3))
    padding = draw(st.integers(0, 3))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # With K ≤ 4 and P ≥ 0 every size from 4 up fits, and one of any three consecutive sizes divides by S ≤ 3.
    H = draw(st.sampled_from(fitting_sizes(KH, stride, padding)))
    W = draw(st.sampled_from(fitting_sizes(KW, stride, padding)))
    return {
        "N": draw(st.integers(1, 2)), "C": draw(st.integers(1, 3)), "F": draw(st.integers(1, 3)),
        "H": H, "W": W, "KH": KH, "KW": KW, "stride": stride, "padding": padding, "seed": draw(st.integers(0, 2**16)),
    }


def make_conv(cfg):
    rng = np.random.default_rng(cfg["seed"])
    conv = Conv2D(cfg["C"], cfg["F"], (cfg["KH"], cfg["KW"]), stride=cfg["stride"], padding=cfg["padding"], rng=rng)
    conv.params["b"][...] = rng.standard_normal(cfg["F"])
    x = rng.standard_normal((cfg["N"], cfg["C"], cfg["H"], cfg["W"]))
    return conv, x, rng


def expected_size(size, kernel, stride, padding):
    return (size + 2 * padding - kernel) // stride + 1


@FAST
@given(conv_configs())
def test_conv_output_shape_follows_the_rule(cfg):
    conv, x, _ = make_conv(cfg)
    OH = expected_size(cfg["H"], cfg["KH"], cfg["stride"], cfg["padding"])
    OW = expected_size(cfg["W"], cfg["KW"], cfg["stride"], cfg["padding"])
    assert conv.forward(x).shape == (cfg["N"], cfg["F"], OH, OW)
    spec = {"input_shape": [cfg["C"], cfg["H"], cfg["W"]], "layers": [{"type": "Conv2D", **conv.config()}]}
    (row,) = summary(spec)
    assert row.output_shape == (cfg["F"], OH, OW)
    assert row.params == cfg["F"] * (cfg["C"] * cfg["KH"] * cfg["KW"] + 1)


@FAST
@given(conv_configs())
def test_conv_forward_equals_a_direct_loop(cfg):
    conv, x, _ = make_conv(cfg)
    W, b = conv.params["W"], conv.params["b"]
    S, P, KH, KW = cfg["stride"], cfg["padding"], cfg["KH"], cfg["KW"]
    xp = np.pad(x, ((0, 0), (0, 0), (P, P), (P, P)))
    out = conv.forward(x)
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            patch = xp[:, :, i * S : i * S + KH, j * S : j * S + KW]  # (N, C, KH, KW)
            assert_allclose(out[:, :, i, j], np.einsum("nchw,fchw->nf", patch, W) + b, rtol=0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(conv_configs())
def test_conv_backward_matches_finite_differences(cfg):
    conv, x, rng = make_conv(cfg)
    errors = check_layer(conv, x, rng)
    assert max(errors.values()) < 1e-7, errors


@FAST
@given(conv_configs())
def test_col2im_is_the_exact_adjoint_of_im2col(cfg):
    _, x, rng = make_conv(cfg)
    KH, KW, S, P = cfg["KH"], cfg["KW"], cfg["stride"], cfg["padding"]
    cols = im2col(x, KH, KW, S, P)
    OH, OW = expected_size(cfg["H"], KH, S, P), expected_size(cfg["W"], KW, S, P)
    assert cols.shape == (cfg["C"] * KH * KW, cfg["N"] * OH * OW)
    c = rng.standard_normal(cols.shape)
    back = col2im(c, x.shape, KH, KW, S, P)
    assert back.shape == x.shape
    # <im2col(x), c> = <x, col2im(c)> for all x and c is the definition of the adjoint.
    lhs, rhs = np.vdot(cols, c), np.vdot(x, back)
    assert abs(lhs - rhs) <= 1e-12 * np.linalg.norm(cols) * np.linalg.norm(c), (lhs, rhs)


@st.composite
def pool_configs(draw):
    size = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3))
    H = draw(st.sampled_from(fitting_sizes(size, stride, 0)))
    W = draw(st.sampled_from(fitting_sizes(size, stride, 0)))
    return {"N": draw(st.integers(1, 2)), "C": draw(st.integers(1, 3)), "H": H, "W": W, "size": size,
            "stride": stride, "seed": draw(st.integers(0, 2**16))}


def pool_input(cfg):
    rng = np.random.default_rng(cfg["seed"])
    shape = (cfg["N"], cfg["C"], cfg["H"], cfg["W"])
    x = ((rng.permutation(int(np.prod(shape))) + 1) / np.prod(shape)).reshape(shape)  # distinct: no ties
    return x, rng


@FAST
@given(pool_configs())
def test_maxpool_takes_window_maxima_routes_errors_and_conserves_them(cfg):
    x, rng = pool_input(cfg)
    K, S = cfg["size"], cfg["stride"]
    pool = MaxPool2D(K, S)
    out = pool.forward(x)
    OH, OW = expected_size(cfg["H"], K, S, 0), expected_size(cfg["W"], K, S, 0)
    assert out.shape == (cfg["N"], cfg["C"], OH, OW)
    for i in range(OH):
        for j in range(OW):
            assert_array_equal(out[:, :, i, j], x[:, :, i * S : i * S + K, j * S : j * S + K].max(axis=(2, 3)))

    dout = rng.standard_normal(out.shape)
    dx = pool.backward(dout)
    assert abs(dx.sum() - dout.sum()) <= 1e-12 * (1 + np.abs(dout).sum())
    routing = pool.routing()
    expected = np.zeros_like(x)
    n, c, i, j = np.indices(out.shape)
    np.add.at(expected, (n, c, routing[..., 0], routing[..., 1]), dout)
    assert_allclose(dx, expected, rtol=0, atol=1e-12)
    assert_array_equal(x[n, c, routing[..., 0], routing[..., 1]], out)


@FAST
@given(pool_configs())
def test_avgpool_takes_window_means_and_conserves_the_error(cfg):
    x, rng = pool_input(cfg)
    K, S = cfg["size"], cfg["stride"]
    pool = AvgPool2D(K, S)
    out = pool.forward(x)
    OH, OW = expected_size(cfg["H"], K, S, 0), expected_size(cfg["W"], K, S, 0)
    assert out.shape == (cfg["N"], cfg["C"], OH, OW)
    expected_dx = np.zeros_like(x)
    dout = rng.standard_normal(out.shape)
    for i in range(OH):
        for j in range(OW):
            window = (slice(None), slice(None), slice(i * S, i * S + K), slice(j * S, j * S + K))
            assert_allclose(out[:, :, i, j], x[window].mean(axis=(2, 3)), rtol=0, atol=1e-15)
            expected_dx[window] += dout[:, :, i, j, None, None] / (K * K)
    dx = pool.backward(dout)
    assert abs(dx.sum() - dout.sum()) <= 1e-12 * (1 + np.abs(dout).sum())
    assert_allclose(dx, expected_dx, rtol=0, atol=1e-14)


@st.composite
def small_specs(draw):
    C, H, W = draw(st.integers(1, 3)), draw(st.integers(3, 12)), draw(st.integers(3, 12))
    shape = (C, H, W)
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["Conv2D", "MaxPool2D", "AvgPool2D", "ReLU", "Tanh", "Sigmoid"]))
        if kind == "Conv2D":
            K, S, P = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
            spans = [(n + 2 * P - K) for n in shape[1:]]
            if all(s >= 0 and s % S == 0 for s in spans):
                F = draw(st.integers(1, 3))
                layers.append({"type": kind, "out_channels": F, "kernel_size": K, "stride": S, "padding": P})
                shape = (F, *(s // S + 1 for s in spans))
        elif kind in ("MaxPool2D", "AvgPool2D"):
            K, S = draw(st.integers(1, 3)), draw(st.integers(1, 3))
            spans = [n - K for n in shape[1:]]
            if all(s >= 0 and s % S == 0 for s in spans):
                layers.append({"type": kind, "size": K, "stride": S})
                shape = (shape[0], *(s // S + 1 for s in spans))
        else:
            layers.append({"type": kind})
    if draw(st.booleans()):
        layers += [{"type": "Flatten"}, {"type": "Dense", "out_features": draw(st.integers(1, 4))}]
    if not layers:
        layers.append({"type": "Identity"})
    return {"input_shape": [C, H, W], "layers": layers}


@FAST
@given(small_specs(), st.integers(1, 2))
def test_summary_shapes_equal_the_shapes_a_forward_pass_produces(spec, N):
    rows = summary(spec)
    model = build_model(spec, rng=np.random.default_rng(0))
    model.forward(np.random.default_rng(1).standard_normal((N, *spec["input_shape"])))
    assert [row.output_shape for row in rows] == [entry.output.shape[1:] for entry in model.trace]
    assert rows.total_params == sum(w.size for w in model.named_params().values())
