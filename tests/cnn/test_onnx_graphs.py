"""The ONNX importer on small graphs built with onnx.helper: each supported operator against onnx's own reference
evaluator (run here by the test, never by the importer), folding and dropping noted, and the info it keeps."""

import numpy as np
import onnx
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from onnx import helper
from onnx.reference import ReferenceEvaluator

from cnn import load_model, load_model_info, load_model_with_info, softmax

from .onnx_graphs import ints, model, save, small_classifier, weight


def assert_matches_reference(proto, path, probabilities=False, batch=2, expected_from=None):
    """Our forward in float64 against onnx's reference evaluator (or `expected_from(x)`) on the same float32
    weights, to 1e-6 relative."""
    net, info = load_model_with_info(save(proto, path), dtype="float64")
    x = np.random.default_rng(0).standard_normal((batch, *info.input_shape)).astype(np.float32)
    expected = expected_from(x) if expected_from else ReferenceEvaluator(proto).run(None, {"x": x})[0]
    ours = net.forward(x.astype(np.float64))
    if probabilities:
        ours = softmax(ours)
    assert np.abs(ours - expected).max() <= 1e-6 * np.abs(expected).max()
    return net, info


def test_a_small_classifier_matches_the_reference_and_remembers_its_softmax(tmp_path):
    net, info = assert_matches_reference(small_classifier(np.random.default_rng(0)), tmp_path / "m.onnx", True)
    assert [layer.kind for layer in net.layers] == ["Conv2D", "ReLU", "MaxPool2D", "Flatten", "Dense"]
    assert info.output == "probabilities" and info.input_shape == (1, 8, 8) and info.opset == 13
    assert info.producer == "test"
    assert [(n.op, n.action) for n in info.notes] == [("Softmax", "left out")]


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
@pytest.mark.parametrize("kernel", [2, 3])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_conv_auto_pad_strides_and_uneven_padding(auto_pad, kernel, stride, tmp_path):
    rng = np.random.default_rng(kernel * 10 + stride)
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c"], name="conv", kernel_shape=[kernel, kernel],
                         strides=[stride, stride], auto_pad=auto_pad),
        helper.make_node("Flatten", ["c"], ["y"]),
    ]
    assert_matches_reference(model(nodes, [weight("W", rng, 2, 3, kernel, kernel)], (1, 3, 7, 8)), tmp_path / "c.onnx")


@pytest.mark.parametrize("pads", [[0, 1, 2, 1], [1, 1, 1, 1], [2, 0, 0, 1]])
def test_conv_explicit_pads_on_each_side(pads, tmp_path):
    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=pads, strides=[2, 2]),
             helper.make_node("Flatten", ["c"], ["y"])]
    proto = model(nodes, [weight("W", rng, 2, 1, 3, 3), weight("b", rng, 2)], (1, 1, 9, 8))
    assert_matches_reference(proto, tmp_path / "c.onnx")


@pytest.mark.parametrize(("op", "attrs"), [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2]}),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),  # ceil changes nothing on 8×8
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [1, 1], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "strides": [2, 2]}),
    ("GlobalAveragePool", {}),
])
def test_pooling_as_the_attributes_say(op, attrs, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node(op, ["r"], ["p"], **attrs),
             helper.make_node("Flatten", ["p"], ["y"])]
    assert_matches_reference(model(nodes, [], (1, 3, 8, 8)), tmp_path / "p.onnx")


@pytest.mark.parametrize(("opset", "keepdims"), [(13, 1), (13, 0), (18, 1), (18, 0)])
def test_reduce_mean_over_height_and_width(opset, keepdims, tmp_path):
    inits, axes = ([ints("axes", [2, 3])], {}) if opset >= 18 else ([], {"axes": [-2, -1]})
    nodes = [helper.make_node("ReduceMean", ["x", "axes"] if opset >= 18 else ["x"], ["m"], keepdims=keepdims, **axes),
             helper.make_node("Flatten", ["m"], ["y"])]
    net, info = assert_matches_reference(model(nodes, inits, (1, 3, 5, 4), opset=opset), tmp_path / "r.onnx")
    assert net.layers[0].kind == "GlobalAvgPool2D"


@pytest.mark.parametrize(("trans_b", "alpha", "beta", "bias_shape"), [(0, 1.0, 1.0, (4,)), (1, 0.5, 2.0, (1, 4)),
                                                                      (0, 2.0, 0.5, ())])
def test_gemm_with_trans_b_alpha_and_beta(trans_b, alpha, beta, bias_shape, tmp_path):
    rng = np.random.default_rng(2)
    B = weight("B", rng, *((4, 16) if trans_b else (16, 4)))
    C = onnx.numpy_helper.from_array(rng.standard_normal(bias_shape).astype(np.float32), "C")
    nodes = [helper.make_node("Flatten", ["x"], ["f"]),
             helper.make_node("Gemm", ["f", "B", "C"], ["y"], transB=trans_b, alpha=alpha, beta=beta)]
    assert_matches_reference(model(nodes, [B, C], (1, 1, 4, 4)), tmp_path / "g.onnx")


def test_matmul_and_add_become_one_dense_layer_with_a_reshape_from_a_constant(tmp_path):
    rng = np.random.default_rng(3)
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=onnx.numpy_helper.from_array(np.array([1, -1]))),
        helper.make_node("Reshape", ["x", "shape"], ["f"], name="view"),
        helper.make_node("MatMul", ["f", "B"], ["m"]),
        helper.make_node("Add", ["c", "m"], ["a"], name="bias"),  # the constant first: Add is commutative
        helper.make_node("LeakyRelu", ["a"], ["y"], alpha=0.2),
    ]
    proto = model(nodes, [weight("B", rng, 16, 5), weight("c", rng, 5)], (1, 1, 4, 4))
    net, info = assert_matches_reference(proto, tmp_path / "m.onnx", batch=1)  # the reference keeps the baked-in 1
    assert net.forward(np.ones((5, 1, 4, 4))).shape == (5, 5)  # ours does not
    assert [layer.kind for layer in net.layers] == ["Flatten", "Dense", "LeakyReLU"]
    assert [(n.node, n.action) for n in info.notes] == [("view", "read as flatten1"), ("bias", "folded into dense1")]


def test_batch_norm_folds_into_the_convolution_before_it_and_stands_alone_elsewhere(tmp_path):
    """Checked against the formula (ONNX's operator page, PyTorch's eval mode): onnx's reference evaluator
    disagrees with both here."""
    rng = np.random.default_rng(4)
    bn = ["bn.scale", "bn.bias", "bn.mean", "bn.var"]
    gamma, beta, mean, var = (v.astype(np.float32) for v in (rng.standard_normal(3), rng.standard_normal(3),
                                                             rng.standard_normal(3), rng.random(3) + 0.5))
    W = weight("W", rng, 3, 1, 3, 3)

    def expected(x):
        def norm(v, eps):
            c = (-1, 1, 1)
            return (v - mean.reshape(c)) / np.sqrt(var.reshape(c) + eps) * gamma.reshape(c) + beta.reshape(c)
        conv = np.einsum("nchwij,fcij->nfhw", sliding_window_view(x.astype(np.float64), (3, 3), axis=(2, 3)),
                         onnx.numpy_helper.to_array(W).astype(np.float64))
        return norm(np.tanh(norm(conv, 1e-3)), 1e-5).reshape(len(x), -1)

    nodes = [
        helper.make_node("Conv", ["x", "W"], ["c"], name="conv", kernel_shape=[3, 3]),
        helper.make_node("Identity", ["c"], ["i"], name="noop"),
        helper.make_node("BatchNormalization", ["i", *bn], ["n"], name="bn_folded", epsilon=1e-3),
        helper.make_node("Tanh", ["n"], ["t"]),
        helper.make_node("BatchNormalization", ["t", *bn], ["n2"], name="bn_alone"),
        helper.make_node("Dropout", ["n2"], ["d"], name="drop"),
        helper.make_node("Flatten", ["d"], ["y"]),
    ]
    inits = [W, *(onnx.numpy_helper.from_array(v, n) for n, v in zip(bn, (gamma, beta, mean, var), strict=True))]
    net, info = assert_matches_reference(model(nodes, inits), tmp_path / "bn.onnx", expected_from=expected)
    assert [layer.kind for layer in net.layers] == ["Conv2D", "Tanh", "BatchNorm", "Flatten"]
    assert [(n.node, n.action) for n in info.notes] == [
        ("noop", "dropped"), ("bn_folded", "folded into conv1"), ("bn_alone", "kept as batchnorm1"),
        ("drop", "dropped")]


def test_metadata_gives_labels_and_normalization(tmp_path):
    meta = {"labels": '["cat", "dog", "bird"]', "mean": "0.5", "std": "[0.25]", "author": "someone"}
    info = load_model_info(save(small_classifier(np.random.default_rng(0), metadata=meta), tmp_path / "m.onnx"))
    assert info.labels == ("cat", "dog", "bird") and info.mean == (0.5,) and info.std == (0.25,)
    assert info.extra == {"author": "someone"}
    info = load_model_info(save(small_classifier(np.random.default_rng(0), metadata={"labels": "a, b, c"}),
                                tmp_path / "n.onnx"))
    assert info.labels == ("a", "b", "c") and info.mean is None


def test_the_pretrained_npz_describes_itself_in_the_same_terms():
    from cnn.pretrained import __file__ as pretrained

    info = load_model_info(pretrained.replace("__init__.py", "lenet5.npz"))
    assert info.format == "npz" and info.input_shape == (1, 28, 28) and info.output == "logits"
    assert info.notes == () and info.labels is None


def test_the_float32_file_loads_in_float32_unless_asked(tmp_path):
    path = save(small_classifier(np.random.default_rng(0)), tmp_path / "m.onnx")
    assert load_model(path).dtype == np.float32
    assert load_model(path, dtype="float64").dtype == np.float64
