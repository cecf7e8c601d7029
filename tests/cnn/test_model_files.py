"""Model files: save_model, load_model and read_model_header.

Every error path checks the message a person reads. Model files are refused without ever unpickling.
"""

import json
import struct
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from cnn import (
    ModelFileError,
    build_model,
    lenet5,
    load_model,
    read_model_header,
    save_model,
)
from tests.cnn.spec_helpers import CONV, spec_of

# save_model / load_model


def tiny_spec(dtype="float64"):
    return spec_of(CONV, {"type": "ReLU"}, {"type": "MaxPool2D", "size": 2}, {"type": "Flatten"},
                   {"type": "Dense", "out_features": 3}, dtype=dtype, name="tiny")


@pytest.fixture
def saved(tmp_path):
    model = build_model(tiny_spec(), rng=np.random.default_rng(0))
    path = save_model(tmp_path / "tiny.npz", model, metadata={"epoch": 3, "accuracy": 0.91})
    return model, path


def rewrite(src, dst, header_edit=None, drop=(), extra=None, allow_pickle=False):
    """Copy a model file, editing its header dict, dropping or adding arrays."""
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays.pop("header")))
    if header_edit is not None:
        header = header_edit(header)
    for name in drop:
        del arrays[name]
    arrays.update(extra or {})
    with open(dst, "wb") as f:
        np.savez(f, header=np.array(json.dumps(header)), allow_pickle=allow_pickle, **arrays)
    return dst


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_keeps_outputs_spec_dtype_and_metadata(tmp_path, dtype):
    model = build_model(lenet5(dtype), rng=np.random.default_rng(0))
    path = save_model(tmp_path / "lenet.npz", model, metadata={"trained_on": "mnist", "epochs": 2})
    assert path == tmp_path / "lenet.npz"
    assert [p.name for p in tmp_path.iterdir()] == ["lenet.npz"]  # no temporary file left behind
    loaded = load_model(path)
    assert loaded.spec() == model.spec()
    assert loaded.dtype == np.dtype(dtype)
    for name, value in model.named_params().items():
        assert loaded.named_params()[name].dtype == np.dtype(dtype)
        assert_array_equal(loaded.named_params()[name], value)
    x = np.random.default_rng(1).random((2, 1, 28, 28))
    assert_array_equal(loaded.forward(x), model.forward(x))

    header = read_model_header(path)
    assert header["format"] == "cnn-visualizer-model"
    assert header["version"] == 1
    assert header["spec"] == model.spec()
    assert header["metadata"] == {"trained_on": "mnist", "epochs": 2}


def test_truncated_file_is_refused(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"cut.npz: not a readable model file \(truncated or not an .npz "
                                             r"archive\)"):
        load_model(cut)
    with pytest.raises(ModelFileError, match="not a readable model file"):
        read_model_header(cut)


def test_corrupted_compressed_member_is_refused(tmp_path):
    # A damaged deflate stream (zlib.error) is a ModelFileError, not a raw traceback.
    model = build_model(tiny_spec(), rng=np.random.default_rng(0))
    path = save_model(tmp_path / "bad.npz", model)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("param/conv1.W.npy")
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len  # the member's deflate stream
    data[start : start + 4] = b"\xff" * 4  # block type 3: reserved, invalid
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="bad.npz: not a readable model file"):
        load_model(path)


def test_random_bytes_are_refused(tmp_path):
    path = tmp_path / "noise.npz"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ModelFileError, match=r"noise.npz: (refused to load|not a readable model file)"):
        load_model(path)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.npz"
    path.write_bytes(b"")
    with pytest.raises(ModelFileError, match=r"empty.npz: not a readable model file"):
        load_model(path)


def test_plain_npz_without_header_is_refused(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ModelFileError, match=r"plain.npz: an .npz file, but not a cnn-visualizer model \(it has no "
                                             r"header\)"):
        load_model(path)


def _leave_a_mark(path):
    """Runs only if something unpickles the object array below."""
    with open(path, "w") as f:
        f.write("unpickled")
    return 0


class Trap:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (_leave_a_mark, (self.marker,))


def test_object_array_is_refused_without_unpickling(saved, tmp_path):
    _, path = saved
    marker = tmp_path / "marker.txt"
    evil = rewrite(path, tmp_path / "evil.npz", drop=["param/conv1.W"],
                   extra={"param/conv1.W": np.array([Trap(str(marker))], dtype=object)}, allow_pickle=True)
    with pytest.raises(ModelFileError, match=r"evil.npz: refused to load: .*allow_pickle"):
        load_model(evil)
    with pytest.raises(ModelFileError, match="refused to load"):
        read_model_header(evil)
    assert not marker.exists()


def test_weights_that_do_not_match_the_spec_are_refused(saved, tmp_path):
    _, path = saved

    def five_filters(header):
        header["spec"]["layers"][0]["out_channels"] = 5
        return header

    # Five filters make the Dense layer's input 5·3·3 = 45 wide, so in_features must follow for the spec to be valid.
    def consistent_five_filters(header):
        header = five_filters(header)
        header["spec"]["layers"][4]["in_features"] = 45
        return header

    edited = rewrite(path, tmp_path / "edited.npz", header_edit=consistent_five_filters)
    with pytest.raises(ModelFileError, match=r"edited.npz: the weights do not match the stored spec: conv1.\w has "
                                             r"shape \((2, 1, 3, 3|2,)\), the model expects \((5, 1, 3, 3|5,)\)"):
        load_model(edited)

    dropped = rewrite(path, tmp_path / "dropped.npz", drop=["param/dense1.b"])
    with pytest.raises(ModelFileError, match=r"dropped.npz: the weights do not match the stored spec: parameters do "
                                             r"not match the model: missing \['dense1.b'\], unexpected \[\]"):
        load_model(dropped)

    invalid = rewrite(path, tmp_path / "invalid.npz", header_edit=five_filters)
    with pytest.raises(ModelFileError, match=r"invalid.npz: the stored spec is not valid: .*Dense has in_features=18 "
                                             r"but its input has 45 features"):
        load_model(invalid)


def test_non_finite_weights_are_refused(saved, tmp_path):
    model, path = saved
    W = model.named_params()["dense1.W"].copy()
    W[0, 0] = np.nan
    nan = rewrite(path, tmp_path / "nan.npz", drop=["param/dense1.W"], extra={"param/dense1.W": W})
    with pytest.raises(ModelFileError, match=r"nan.npz: parameter dense1.W holds NaN or infinite values"):
        load_model(nan)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda h: {**h, "format": "keras"}, r"not a cnn-visualizer model \(format 'keras'\)"),
        (lambda h: {k: v for k, v in h.items() if k != "format"}, r"not a cnn-visualizer model \(format None\)"),
        (lambda h: {**h, "version": 2}, r"model format version 2, this program reads 1"),
    ],
    ids=["format", "no-format", "version"],
)
def test_header_with_the_wrong_format_or_version_is_refused(saved, tmp_path, edit, message):
    _, path = saved
    edited = rewrite(path, tmp_path / "edited.npz", header_edit=edit)
    with pytest.raises(ModelFileError, match=message):
        load_model(edited)
    with pytest.raises(ModelFileError, match=message):
        read_model_header(edited)


def test_header_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "text.npz"
    np.savez(path, header=np.array("format: cnn"))
    with pytest.raises(ModelFileError, match=r"text.npz: the model header is not valid JSON"):
        load_model(path)


@pytest.mark.parametrize("header", [[1, 2], 5, "cnn-visualizer-model"], ids=["list", "number", "string"])
def test_header_that_is_json_but_not_an_object_is_refused(tmp_path, header):
    # A header that is JSON but not an object is a ModelFileError, not an AttributeError.
    path = tmp_path / "odd.npz"
    np.savez(path, header=np.array(json.dumps(header)))
    with pytest.raises(ModelFileError, match=r"odd.npz: not a cnn-visualizer model"):
        load_model(path)


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match=r"nowhere.npz: no such model file"):
        load_model(tmp_path / "nowhere.npz")
    with pytest.raises(ModelFileError, match=r"no such model file"):
        read_model_header(tmp_path)  # a directory is not a model file either
