"""The reference's one array type: float64, one example at a time."""

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
