"""The loop-based reference CNN: seed 000's hand-written numpy network, written to be read, not fast.

One example at a time in (C, H, W) layout, float64, explicit loops over output positions, the seed's names.
It is the oracle the vectorized NCHW layers in cnn/layers/ are tested against, so it is right for every
stride, zero padding and kernel for which (H − KH + 2P)/S + 1 is an integer, P > K − 1 and non-square
shapes included.

Vocabulary (seed 000): `conv` is cross-correlation (the kernel is not flipped), as in the seed; the
sensitivity map δ = ∂E/∂net is the error with respect to a layer's weighted input. The backward functions
return ∂E/∂x without any activation derivative, since activations are separate layers in this engine;
`activation_backward` is the seed's last multiplication, kept apart.

Modules: conv.py (output size, padding, windows, convolution forward and backward), pool.py (max and mean
pooling), dense.py, activators.py, layer.py (the seed's Filter and ConvLayer); every name is importable from
cnn.reference itself.
"""

from cnn.reference.activators import (
    Activator,
    IdentityActivator,
    ReluActivator,
    SigmoidActivator,
    TanhActivator,
    activation_backward,
)
from cnn.reference.array import Array
from cnn.reference.conv import (
    conv,
    conv_backward,
    conv_bp_gradient,
    conv_bp_sensitivity_map,
    conv_forward,
    expand_sensitivity_map,
    get_patch,
    output_size,
    padding,
)
from cnn.reference.dense import dense_backward, dense_forward
from cnn.reference.layer import ConvLayer, Filter
from cnn.reference.pool import avgpool_backward, avgpool_forward, get_max_index, maxpool_backward, maxpool_forward

__all__ = [
    "Activator",
    "Array",
    "ConvLayer",
    "Filter",
    "IdentityActivator",
    "ReluActivator",
    "SigmoidActivator",
    "TanhActivator",
    "activation_backward",
    "avgpool_backward",
    "avgpool_forward",
    "conv",
    "conv_backward",
    "conv_bp_gradient",
    "conv_bp_sensitivity_map",
    "conv_forward",
    "dense_backward",
    "dense_forward",
    "expand_sensitivity_map",
    "get_max_index",
    "get_patch",
    "maxpool_backward",
    "maxpool_forward",
    "output_size",
    "padding",
]
