"""A PyTorch LeNet trained briefly on real MNIST, exported and loaded: on the 10,000 test digits our engine scores
what PyTorch scores, within 0.1 %."""

import time

import numpy as np

from cnn import load_model_with_info
from cnn.data import load_mnist, to_inputs
from cnn.evaluate import evaluate

from .onnx_helpers import export, require_torch
from .test_onnx_pytorch import LeNet5

TRAIN_SLICE = 4000  # one pass of Adam reaches ~92 %, in about a second on two quiet cores


def train_briefly(torch, images: np.ndarray, labels: np.ndarray):
    torch.manual_seed(0)
    net = LeNet5()
    optimizer = torch.optim.Adam(net.parameters(), lr=5e-3)
    x, y = torch.from_numpy(to_inputs(images)), torch.from_numpy(labels.astype(np.int64))
    net.train()
    for start in range(0, len(x), 32):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(net(x[start : start + 32]), y[start : start + 32]).backward()
        optimizer.step()
    return net.eval()


def test_a_briefly_trained_pytorch_lenet_scores_the_same_on_the_mnist_test_set(mnist_dir, tmp_path):
    torch = require_torch()
    torch.set_num_threads(2)
    train_images, train_labels = load_mnist("train", mnist_dir)
    test_images, test_labels = load_mnist("test", mnist_dir)
    started = time.perf_counter()
    net = train_briefly(torch, train_images[:TRAIN_SLICE], train_labels[:TRAIN_SLICE])
    training_seconds = time.perf_counter() - started
    with torch.no_grad():
        theirs = net(torch.from_numpy(to_inputs(test_images))).argmax(dim=1).numpy()
    their_accuracy = float((theirs == test_labels).mean())

    path = export(torch, net, torch.randn(1, 1, 28, 28), tmp_path / "lenet.onnx", dynamo=True)
    model, info = load_model_with_info(path)  # float32, as exported: the test set in float32 batches
    ours = evaluate(model, test_images, test_labels)

    assert model.dtype == np.float32 and info.input_shape == (1, 28, 28)
    assert their_accuracy > 0.85, f"PyTorch's LeNet reached only {their_accuracy:.2%} in {training_seconds:.1f} s"
    assert abs(ours.accuracy - their_accuracy) <= 0.001, (ours.accuracy, their_accuracy)
