"""A spec in one line, for test_spec.py and test_model_files.py."""


def spec_of(*layers, input_shape=(1, 8, 8), **extra):
    return {"input_shape": list(input_shape), "layers": list(layers), **extra}


CONV = {"type": "Conv2D", "out_channels": 2, "kernel_size": 3}
