"""What the ONNX importer refuses, and the messages a person reads: unsupported operators and attributes (naming the
operator, the node and the opset, and listing what is supported), and hostile files (truncated, a huge initializer,
external data, not ONNX at all), each a ModelFileError."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from cnn import ModelFileError, UnsupportedModelError, load_model, load_model_info
from cnn.onnx_import import read_onnx

from .onnx_graphs import ints, model, save, small_classifier, weight

SUPPORTED = r"Supported: Add \(a bias after Conv, Gemm or MatMul\), AveragePool, BatchNormalization, Constant, Conv"


def refused(proto, tmp_path, match, error=UnsupportedModelError):
    with pytest.raises(error, match=match) as caught:
        load_model(save(proto, tmp_path / "m.onnx"))
    return str(caught.value)


def test_an_unsupported_operator_is_named_with_its_node_and_opset_and_the_supported_list(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Resize", ["r"], ["s"], name="upsample"),
             helper.make_node("Flatten", ["s"], ["y"])]
    message = refused(model(nodes, [], opset=17), tmp_path,
                      r"Resize node 'upsample' \(opset 17\): the Resize operator is not supported\. " + SUPPORTED)
    assert "Tanh" in message and "LeakyRelu" in message


def test_an_operator_from_another_domain_is_refused(tmp_path):
    nodes = [helper.make_node("FusedConv", ["x"], ["y"], name="fused", domain="com.microsoft")]
    proto = model(nodes, [])
    proto.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    refused(proto, tmp_path, r"FusedConv node 'fused' \(opset 13\) is from the operator domain 'com.microsoft'")


@pytest.mark.parametrize(("attrs", "match"), [
    ({"group": 1, "dilations": [2, 2]}, r"Conv node 'conv' \(opset 13\): dilations \[2, 2\] are not supported"),
    ({"strides": [1, 2]}, r"strides \[1, 2\] differ between height and width"),
])
def test_conv_attributes_the_engine_lacks(attrs, match, tmp_path):
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="conv", kernel_shape=[3, 3], **attrs),
             helper.make_node("Flatten", ["c"], ["y"])]
    refused(model(nodes, [weight("W", rng, 2, 1, 3, 3)]), tmp_path, match)


def test_grouped_convolution_is_refused(tmp_path):
    rng = np.random.default_rng(0)
    nodes = [helper.make_node("Conv", ["x", "W"], ["c"], name="dw", kernel_shape=[3, 3], group=3),
             helper.make_node("Flatten", ["c"], ["y"])]
    refused(model(nodes, [weight("W", rng, 3, 1, 3, 3)], (1, 3, 8, 8)), tmp_path,
            r"Conv node 'dw' \(opset 13\): group=3 \(grouped or depthwise convolution\) is not supported")


@pytest.mark.parametrize(("op", "attrs", "match"), [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1},
     r"ceil_mode=1 makes the output height 4, not 3; the engine computes the floor"),
    ("MaxPool", {"kernel_shape": [2, 3]}, r"its 2×3 window is not square"),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, r"padding with count_include_pad=0"),
])
def test_pooling_attributes_the_engine_lacks(op, attrs, match, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node(op, ["r"], ["p"], name="pool", **attrs),
             helper.make_node("Flatten", ["p"], ["y"])]
    refused(model(nodes, []), tmp_path, rf"{op} node 'pool' \(opset 13\): {match}")


def test_a_padded_max_pool_on_values_that_may_be_negative_is_refused(tmp_path):
    nodes = [helper.make_node("MaxPool", ["x"], ["p"], name="pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["p"], ["y"])]
    refused(model(nodes, []), tmp_path, r"padding is read only where its input is known to be ≥ 0")


def test_a_softmax_that_is_not_last_is_refused(tmp_path):
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Softmax", ["f"], ["s"], name="sm"),
             helper.make_node("Relu", ["s"], ["y"], name="after")]
    refused(model(nodes, []), tmp_path, r"Relu node 'after' \(opset 13\) follows Softmax node 'sm'")


def test_a_skip_connection_is_refused(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["r"], ["s"]),
             helper.make_node("Add", ["r", "s"], ["a"], name="residual"), helper.make_node("Flatten", ["a"], ["y"])]
    refused(model(nodes, []), tmp_path, r"Add node 'residual' \(opset 13\): .*only chains of layers")


def test_a_reshape_that_is_not_a_flatten_is_refused(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"], name="r")]
    refused(model(nodes, [ints("shape", [1, 8, 8])]), tmp_path,
            r"Reshape node 'r' \(opset 13\): it reshapes \(1, 1, 8, 8\) to \[1, 8, 8\]; only flattening")


@pytest.mark.parametrize("opset", [12, 21])
def test_operator_sets_outside_13_to_20_are_refused(opset, tmp_path):
    refused(small_classifier(np.random.default_rng(0), opset=opset), tmp_path,
            rf"operator set {opset} is outside the supported 13 to 20")


@pytest.mark.parametrize(("shape", "match"), [
    ((1, 4, 8, 8), r"the input has 4 channels; 1 \(grey\) or 3 \(colour\) are supported"),
    ((1, 1, 600, 8), r"the input is 600×8; at most 512×512"),
    ((1, 1, "height", 8), r"the input has shape \[1, 1, '\?', 8\]"),
    ((1, 8), r"\(N, C, H, W\) with C, H and W fixed is expected"),
])
def test_inputs_outside_the_supported_shapes(shape, match, tmp_path):
    refused(model([helper.make_node("Relu", ["x"], ["y"])], [], shape), tmp_path, match)


def test_an_output_that_is_not_flat_is_refused(tmp_path):
    refused(model([helper.make_node("Relu", ["x"], ["y"])], []), tmp_path, r"a classifier ending in \(K,\)")


# Hostile files


def test_a_truncated_file(tmp_path):
    data = small_classifier(np.random.default_rng(0)).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable ONNX model|not an ONNX model|does not match"):
        load_model(path)


@pytest.mark.parametrize("content", [b"\x89PNG\r\n\x1a\n" + bytes(100), b"<html>404 not found</html>", b""])
def test_a_file_that_is_not_onnx_at_all(content, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=r"not (a readable ONNX model|an ONNX model)"):
        load_model(path)


def test_an_npz_named_onnx_is_not_onnx(tmp_path):
    from cnn.pretrained import __file__ as pretrained

    path = tmp_path / "lenet.onnx"
    path.write_bytes(open(pretrained.replace("__init__.py", "lenet5.npz"), "rb").read())
    with pytest.raises(ModelFileError, match=r"lenet\.onnx: not (a readable ONNX model|an ONNX model)"):
        load_model(path)


def test_a_huge_initializer_is_refused_before_it_is_read(tmp_path):
    proto = small_classifier(np.random.default_rng(0))
    huge = proto.graph.initializer.add()  # claims 2⁴⁰ floats and holds 16 bytes: a file cannot be trusted on sizes
    huge.name, huge.data_type, huge.raw_data = "huge", TensorProto.FLOAT, b"\0" * 16
    huge.dims.extend([1 << 20, 1 << 20])
    refused(proto, tmp_path, r"initializer 'huge' has shape \[1048576, 1048576\] \(1,099,511,627,776 values\), more "
                             r"than the 33,554,432 one tensor may hold here", error=ModelFileError)


def test_the_tensor_and_file_limits_are_arguments(tmp_path):
    path = save(small_classifier(np.random.default_rng(0)), tmp_path / "m.onnx")
    with pytest.raises(ModelFileError, match=r"initializer 'W2' has shape \[3, 32\] \(96 values\), more than the 50"):
        read_onnx(path, max_tensor_elements=50)
    with pytest.raises(ModelFileError, match=r"bytes, more than the 100 an ONNX model may have here"):
        read_onnx(path, max_file_bytes=100)


def test_data_that_does_not_match_its_shape(tmp_path):
    proto = small_classifier(np.random.default_rng(0))
    proto.graph.initializer[0].raw_data = b"\0" * 8
    refused(proto, tmp_path, r"initializer 'W1': its data does not match its shape \[2, 1, 3, 3\]",
            error=ModelFileError)


def test_external_data_is_refused_and_never_opened(tmp_path):
    proto = small_classifier(np.random.default_rng(0))
    w = proto.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    refused(proto, tmp_path, r"initializer 'W1' keeps its data in an external file; only self-contained \.onnx",
            error=ModelFileError)


def test_weights_that_are_not_finite(tmp_path):
    proto = small_classifier(np.random.default_rng(0))
    proto.graph.initializer[3].CopyFrom(onnx.numpy_helper.from_array(np.array([np.nan, 0, 0], np.float32), "b2"))
    refused(proto, tmp_path, r"parameter dense1\.b holds NaN or infinite values", error=ModelFileError)


@pytest.mark.parametrize(("meta", "match"), [
    ({"labels": "a, b"}, r"metadata labels names 2 classes, the model has 3 outputs"),
    ({"mean": "0.5"}, r"the metadata gives mean without std; normalization needs both"),
    ({"mean": "[0.5, 0.5]", "std": "[1, 1]"}, r"metadata mean has 2 numbers, the input has 1 channel"),
    ({"mean": "0.5", "std": "zero"}, r"metadata std must be 1 numbers, got 'zero'"),
    ({"mean": "0.5", "std": "0"}, r"metadata std must be positive"),
])
def test_metadata_that_does_not_fit_the_model(meta, match, tmp_path):
    path = save(small_classifier(np.random.default_rng(0), metadata=meta), tmp_path / "m.onnx")
    with pytest.raises(ModelFileError, match=match):
        load_model_info(path)


def test_a_missing_file(tmp_path):
    with pytest.raises(ModelFileError, match=r"nothere\.onnx: no such model file"):
        load_model(tmp_path / "nothere.onnx")
