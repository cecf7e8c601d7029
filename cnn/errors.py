"""Errors the library raises on purpose. Each message names the layer, the numbers, and what would fix it."""


class ShapeError(ValueError):
    """A layer cannot be applied to the shape it is given (stride does not fit, kernel too large, size mismatch)."""


class SpecError(ValueError):
    """An architecture spec is malformed: unknown layer type, missing or wrong arguments."""


class ModelFileError(ValueError):
    """A model file is truncated, foreign, or does not match its own spec."""


class DivergenceError(FloatingPointError):
    """An update would make weights NaN or infinite; nothing was changed."""


class DataError(ValueError):
    """A data file is missing, damaged, foreign or cannot be fetched. The message names the file and a fix."""


class UnsupportedModelError(ModelFileError):
    """A well-formed model file asks for what the engine cannot do: an operator, attribute or shape it lacks."""
