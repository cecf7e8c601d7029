"""Models exported from PyTorch by both of its exporters, loaded through cnn.load_model: our forward logits and our
gradient of the cross-entropy with respect to the input agree with PyTorch's in float64 to 1e-6 relative."""

import numpy as np
import pytest

from cnn import load_model_with_info, softmax_cross_entropy

from .onnx_helpers import export, require_torch

torch = require_torch()
nn = torch.nn
F = torch.nn.functional
TOL = 1e-6


class LeNet5(nn.Module):
    """ReLU and max pooling, 1×28×28 (the engine's own lenet5)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class LeNet1998(nn.Module):
    """LeCun et al. 1998: tanh and average pooling (subsampling) on 1×32×32."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5), nn.Tanh(),
                                      nn.AvgPool2d(2))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
                                        nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


class ColourNet(nn.Module):
    """3×32×32: stride-2 convolution whose stride leaves a row over, padded and overlapping max pooling, LeakyReLU,
    global average pooling."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.pool1, self.pool2 = nn.MaxPool2d(3, stride=2, padding=1), nn.MaxPool2d(3, stride=2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.pool1(F.relu(self.conv1(x)))
        x = self.pool2(F.leaky_relu(self.conv2(x), 0.1))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class ViewDropoutNet(nn.Module):
    """x.view(x.size(0), -1), Dropout, a hand-written x @ W + b (MatMul and Add), sigmoid, and a final log-softmax."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.drop = nn.Dropout(0.3)
        self.W = nn.Parameter(torch.randn(4 * 13 * 13, 32) * 0.05)
        self.b = nn.Parameter(torch.randn(32) * 0.1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = self.drop(x.view(x.size(0), -1))
        return F.log_softmax(self.fc(self.drop(torch.sigmoid(x @ self.W + self.b))), dim=1)


class BatchNormNet(nn.Module):
    """Batch norm after a convolution (foldable), after a ReLU (a layer of its own), and after a dense layer."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 8, 3)
        self.bn1, self.bn2, self.bn3 = nn.BatchNorm2d(6), nn.BatchNorm2d(8), nn.BatchNorm1d(32)
        self.fc1, self.fc2 = nn.Linear(8 * 5 * 5, 32), nn.Linear(32, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(self.bn2(F.relu(self.conv2(x))), 2)
        return self.fc2(F.relu(self.bn3(self.fc1(torch.flatten(x, 1)))))


def with_running_statistics(model):
    """Batch-norm layers given running means and variances far from 0 and 1, so folding them is really tested."""
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.randn(n, generator=g))
            m.bias.data.copy_(torch.randn(n, generator=g))
    return model


NETS = {
    "lenet5": (LeNet5, (1, 28, 28)),
    "lenet1998": (LeNet1998, (1, 32, 32)),
    "colour": (ColourNet, (3, 32, 32)),
    "view-dropout": (ViewDropoutNet, (1, 28, 28)),
    "batchnorm": (BatchNormNet, (1, 28, 28)),
}


def torch_logits_and_input_gradient(net, x, labels):
    """PyTorch in float64: the net's output and ∂(mean cross-entropy)/∂x. For a net ending in log-softmax the
    cross-entropy of its output is that of its logits (log-softmax of a log-softmax changes nothing)."""
    net = net.double().eval()
    xt = torch.from_numpy(x).requires_grad_(True)
    logits = net(xt)
    loss = F.cross_entropy(logits, torch.from_numpy(labels))
    loss.backward()
    return logits.detach().numpy(), xt.grad.numpy()


def relative(ours, theirs):
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "legacy"])
@pytest.mark.parametrize("name", list(NETS))
def test_logits_and_input_gradient_match_pytorch(name, dynamo, tmp_path):
    cls, shape = NETS[name]
    torch.manual_seed(0)
    net = with_running_statistics(cls()).eval()
    path = export(torch, net, torch.randn(1, *shape), tmp_path / f"{name}.onnx", dynamo)
    model, info = load_model_with_info(path, dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, *shape))
    labels = rng.integers(0, 10, 3)
    theirs, their_dx = torch_logits_and_input_gradient(net, x, labels)
    logits = model.forward(x)
    if info.output == "log-probabilities":  # the engine leaves the log-softmax out: compare what it feeds
        logits = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert relative(logits, theirs) < TOL
    _, dlogits = softmax_cross_entropy(model.forward(x), labels)
    assert relative(model.backward(dlogits), their_dx) < TOL
    assert info.format == "onnx" and info.input_shape == shape
    assert info.output == ("log-probabilities" if name == "view-dropout" else "logits")


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo", "legacy"])
def test_batch_norm_is_folded_where_it_can_be_and_kept_as_a_layer_where_not(dynamo, tmp_path):
    torch.manual_seed(0)
    net = with_running_statistics(BatchNormNet()).eval()
    model, info = load_model_with_info(export(torch, net, torch.randn(1, 1, 28, 28), tmp_path / "bn.onnx", dynamo))
    kinds = [layer.kind for layer in model.layers]
    assert kinds.count("BatchNorm") == 1  # bn2, after a ReLU: nothing to fold it into
    assert kinds.index("BatchNorm") == kinds.index("ReLU", kinds.index("Conv2D", 1)) + 1
    kept = [n for n in info.notes if n.action.startswith("kept as")]
    assert len(kept) == 1 and "no convolution or dense layer right before it" in kept[0].why


@pytest.mark.parametrize(("dynamo", "opset"), [(False, 13), (False, 17), (False, 20), (True, 18), (True, 20)],
                         ids=["legacy-13", "legacy-17", "legacy-20", "dynamo-18", "dynamo-20"])
def test_opsets_13_to_20(dynamo, opset, tmp_path):
    """The legacy exporter writes any of them; the default one writes 18 and later (it converts 18 down itself)."""
    torch.manual_seed(0)
    net = LeNet5().eval()
    path = export(torch, net, torch.randn(1, 1, 28, 28), tmp_path / "lenet.onnx", dynamo=dynamo, opset=opset)
    model, info = load_model_with_info(path, dtype="float64")
    assert info.opset == opset
    x = np.random.default_rng(1).standard_normal((2, 1, 28, 28))
    assert relative(model.forward(x), net.double()(torch.from_numpy(x)).detach().numpy()) < TOL


def test_dropout_and_the_final_log_softmax_are_noted(tmp_path):
    torch.manual_seed(0)
    path = export(torch, ViewDropoutNet(), torch.randn(1, 1, 28, 28), tmp_path / "v.onnx", dynamo=False)
    model, info = load_model_with_info(path)
    assert "Dropout" not in [layer.kind for layer in model.layers]
    assert model.layers[-1].kind == "Dense"
    assert any(n.op == "LogSoftmax" and n.action == "left out" for n in info.notes)
