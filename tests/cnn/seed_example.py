"""The worked example of seed 000 (`init_test` / `test`), transcribed digit for digit.

A 3×5×5 input `a`, two 3×3×3 filters with zero padding 1 and stride 2, biases 1 and 0, the identity activation and
learning rate 0.001. `b` is the sensitivity map handed to `backward`; the seed prints the forward output and both
filters after one update. Those printed values are the golden numbers.
"""

import numpy as np

A = np.array(
    [
        [[0, 1, 1, 0, 2], [2, 2, 2, 2, 1], [1, 0, 0, 2, 0], [0, 1, 1, 0, 0], [1, 2, 0, 0, 2]],
        [[1, 0, 2, 2, 0], [0, 0, 0, 2, 0], [1, 2, 1, 2, 1], [1, 0, 0, 0, 0], [1, 2, 1, 1, 1]],
        [[2, 1, 2, 0, 0], [1, 0, 0, 1, 0], [0, 2, 1, 0, 1], [0, 1, 2, 2, 2], [2, 1, 0, 0, 1]],
    ],
    dtype=np.float64,
)

B = np.array(
    [
        [[0, 1, 1], [2, 2, 2], [1, 0, 0]],
        [[1, 0, 2], [0, 0, 0], [1, 2, 1]],
    ],
    dtype=np.float64,
)

W = np.array(
    [
        [
            [[-1, 1, 0], [0, 1, 0], [0, 1, 1]],
            [[-1, -1, 0], [0, 0, 0], [0, -1, 0]],
            [[0, 0, -1], [0, 1, 0], [1, -1, -1]],
        ],
        [
            [[1, 1, -1], [-1, -1, 1], [0, -1, 1]],
            [[0, 1, 0], [-1, 0, -1], [-1, 1, 0]],
            [[-1, 0, 0], [-1, 0, 1], [-1, 0, 0]],
        ],
    ],
    dtype=np.float64,
)
BIAS = np.array([1.0, 0.0])
STRIDE = 2
PADDING = 1
LEARNING_RATE = 0.001

FORWARD_OUTPUT = np.array(
    [
        [[6, 7, 5], [3, -1, -1], [2, -1, 4]],
        [[2, -5, -8], [1, -4, -4], [0, -5, -5]],
    ],
    dtype=np.float64,
)

W_AFTER_UPDATE = np.array(
    [
        [
            [[-1.008, 0.99, -0.009], [-0.005, 0.994, -0.006], [-0.006, 0.995, 0.996]],
            [[-1.004, -1.001, -0.004], [-0.01, -0.009, -0.012], [-0.002, -1.002, -0.002]],
            [[-0.002, -0.002, -1.003], [-0.005, 0.992, -0.005], [0.993, -1.008, -1.007]],
        ],
        [
            [[0.998, 0.998, -1.001], [-1.004, -1.007, 0.997], [-0.004, -1.004, 0.998]],
            [[0.0, 0.999, 0.0], [-1.009, -0.005, -1.004], [-1.004, 1.0, 0.0]],
            [[-1.004, -0.006, -0.005], [-1.002, -0.005, 0.998], [-1.002, -0.001, 0.0]],
        ],
    ]
)
BIAS_AFTER_UPDATE = np.array([0.991, -0.007])
