"""cnn: a small convolutional network library in numpy whose every pass can be watched.

    from cnn import build_model, lenet5, softmax_cross_entropy, SGD
    model = build_model(lenet5(), rng=np.random.default_rng(0))
    loss, dlogits = softmax_cross_entropy(model.forward(x), labels)
    dx = model.backward(dlogits)                 # ∂E/∂input; model.trace: per layer input, output, δ, grad_input, …
    updates = SGD(lr=0.01).step_recorded(model)  # per parameter: before, Δ, after (training: model.backward_params,
                                                 # then SGD.step, in place, nothing returned)
"""

from cnn.architectures import SPECS, lenet5, vgg16
from cnn.errors import DivergenceError, ModelFileError, ShapeError, SpecError, UnsupportedModelError
from cnn.gradcheck import (
    GradCheckEntry,
    check_layer,
    check_model,
    finite_difference_resolution,
    numerical_gradient,
    overall_relative_error,
    relative_error,
)
from cnn.layers import (
    LAYER_TYPES,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAvgPool2D,
    Identity,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
    ZeroPad2D,
)
from cnn.losses import LOSSES, mean_squared_error, one_hot, softmax, softmax_cross_entropy
from cnn.model import Sequential
from cnn.modelfile import load_model, load_model_info, load_model_with_info, read_model_header, save_model
from cnn.modelinfo import ImportNote, ModelInfo
from cnn.optim import SGD, Adam, Optimizer, ParamUpdate
from cnn.spec import Summary, SummaryRow, build_model, normalize_spec, summary
from cnn.trace import LayerTrace

__all__ = [
    "LAYER_TYPES",
    "LOSSES",
    "SGD",
    "SPECS",
    "Adam",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "DivergenceError",
    "Dropout",
    "Flatten",
    "GlobalAvgPool2D",
    "GradCheckEntry",
    "Identity",
    "ImportNote",
    "Layer",
    "LayerTrace",
    "LeakyReLU",
    "MaxPool2D",
    "ModelFileError",
    "ModelInfo",
    "Optimizer",
    "ParamUpdate",
    "ReLU",
    "Sequential",
    "ShapeError",
    "Sigmoid",
    "SpecError",
    "Summary",
    "SummaryRow",
    "Tanh",
    "UnsupportedModelError",
    "ZeroPad2D",
    "build_model",
    "check_layer",
    "check_model",
    "finite_difference_resolution",
    "lenet5",
    "load_model",
    "load_model_info",
    "load_model_with_info",
    "mean_squared_error",
    "normalize_spec",
    "numerical_gradient",
    "one_hot",
    "overall_relative_error",
    "read_model_header",
    "relative_error",
    "save_model",
    "softmax",
    "softmax_cross_entropy",
    "summary",
    "vgg16",
]
