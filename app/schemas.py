"""What crosses the wire, with every field described: these models are the API documentation at /docs.

Arrays travel as {"shape", "dtype", "data": base64 of little-endian bytes} (see app.encoding), never nested lists.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ARRAY_NOTE = (
    'An array: {"shape": [...], "dtype": "float32" | "uint8" | "int32", "data": "<base64 of the little-endian '
    'bytes>"}, or an outer product {"shape": [K, D], "dtype": "float32", "outer": [u, v], "scale": s} = s·u·vᵀ.'
)
LAYER_NOTE = (
    "One entry per layer, each an object with phase, index, name, kind and that layer's arrays. "
    "Forward: output_shape and output (the layer's output for this image; for Conv2D and Dense that is the weighted "
    "input net, the activation layer after it holds f(net)). "
    "Backward: delta (∂E/∂ of the layer's output; delta_of says 'net' where that is the sensitivity map δ = ∂E/∂net, "
    "'out' where it is ∂E/∂out), grads (∂E/∂W and ∂E/∂b for layers with weights; a dense ∂E/∂W is sent as the "
    "outer product δ·xᵀ), routing for MaxPool2D ((C, OH, OW, 2) input row and column each output's maximum came "
    "from: where its error goes), and for the first layer grad_input, ∂E/∂input: the saliency map. "
    "Update: params, per parameter its shape, delta (Δ = after − before), and before and after when it has at most "
    "8192 values. " + ARRAY_NOTE
)


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, in plain words, and what to do about it.")
    code: str = Field(description="A stable machine-readable code, e.g. too_large, empty_image, no_forward_yet.")


class ImageRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"image": "data:image/png;base64,iVBORw0KGgo..."}]})
    image: str = Field(description="The drawing as a data URL: data:image/png;base64,... (PNG, JPEG, GIF, BMP, WebP).",
                       max_length=8 * 1024 * 1024)


class ForwardResponse(BaseModel):
    prediction: int = Field(description="The class with the highest probability (0-9).")
    probabilities: list[float] = Field(description="Softmax of the last layer's output, one per class 0-9.")
    input: dict[str, Any] = Field(description="The preprocessed 28×28 input the network read. " + ARRAY_NOTE)
    layers: list[dict[str, Any]] = Field(description=LAYER_NOTE)


class BackwardRequest(BaseModel):
    target: int = Field(ge=0, le=9, strict=True, description="The label the network should have given (0-9).")
    loss: Literal["cross_entropy", "mse"] = Field(
        default="cross_entropy",
        description="cross_entropy: softmax cross-entropy, δ of the last layer = p − y. mse: ½Σ(t − y)² on the raw "
        "outputs, δ = y − t.")


class BackwardResponse(BaseModel):
    target: int = Field(description="The target label used.")
    loss_name: str = Field(description="The loss used: cross_entropy or mse.")
    loss: float = Field(description="The loss E for this image and target.")
    prediction: int = Field(description="The current prediction for the stored input.")
    probabilities: list[float] = Field(description="Softmax probabilities, one per class.")
    layers: list[dict[str, Any]] = Field(description="From the last layer back to the first. " + LAYER_NOTE)


class StepRequest(BaseModel):
    lr: float = Field(gt=0, description="Learning rate of the SGD step, w ← w − lr·v (at most CNN_MAX_LEARNING_RATE).")
    momentum: float = Field(default=0.0, ge=0, lt=1, description="Momentum μ: v ← μ·v + ∂E/∂w (0: plain SGD).")


class StepResponse(BaseModel):
    lr: float = Field(description="The learning rate applied.")
    momentum: float = Field(description="The momentum applied.")
    steps: int = Field(description="Steps applied since the last reset.")
    loss_before: float = Field(description="The loss on the stored input and target before the step.")
    loss_after: float = Field(description="The loss after the step.")
    loss_history: list[float] = Field(description="The loss after each step since the last reset.")
    prediction_before: int = Field(description="The prediction before the step.")
    prediction: int = Field(description="The prediction after the step.")
    probabilities_before: list[float] = Field(description="Probabilities before the step.")
    probabilities: list[float] = Field(description="Probabilities after the step, on the same input.")
    layers: list[dict[str, Any]] = Field(description="The layers with weights, first to last. " + LAYER_NOTE)


class GradcheckRequest(BaseModel):
    param: str = Field(description='A parameter name from GET /api/model, e.g. "conv1.W" or "dense3.b".',
                       max_length=64)
    samples: int = Field(default=8, ge=1, le=64, description="How many weights to sample.")
    seed: int = Field(default=0, ge=0, le=2**31 - 1, description="Seed for choosing the weights.")


class GradcheckEntry(BaseModel):
    index: list[int] = Field(description="Position of the weight in the parameter array.")
    analytic: float = Field(description="∂E/∂w from the backward pass.")
    numerical: float = Field(description="(E(w + ε) − E(w − ε)) / 2ε with ε = 1e-6.")
    absolute_error: float = Field(description="|analytic − numerical|.")
    relative_error: float = Field(description="|analytic − numerical| / (|analytic| + |numerical|); 0 if both are 0. "
                                  "Meaningless for gradients near the resolution.")


class GradcheckResponse(BaseModel):
    param: str = Field(description="The parameter checked.")
    entries: list[GradcheckEntry] = Field(description="One row per sampled weight.")
    relative_error: float = Field(description="‖analytic − numerical‖ / (‖analytic‖ + ‖numerical‖) over the sampled "
                                  "weights: the verdict (below 1e-7 means the backward pass is right).")
    max_absolute_error: float = Field(description="The largest |analytic − numerical| among the entries.")
    resolution: float = Field(description="How finely a centred difference resolves a gradient here (float64 "
                              "rounding of E, divided by 2ε): absolute errors near it are noise.")


class ResetResponse(BaseModel):
    steps: int = Field(description="Steps since the reset: 0.")
    message: str = Field(description="What happened.")


class ModelLayer(BaseModel):
    model_config = ConfigDict(extra="allow")
    index: int = Field(description="Position in the network, from 0.")
    name: str = Field(description="Layer name, e.g. conv1.")
    kind: str = Field(description="Layer type: Conv2D, ReLU, MaxPool2D, Flatten, Dense, ….")
    output_shape: list[int] = Field(description="Shape of the layer's output for one image.")
    params: int = Field(description="Number of weights and biases.")


class ModelResponse(BaseModel):
    spec: dict[str, Any] = Field(description="The architecture as plain data (input_shape, dtype, layers).")
    input_shape: list[int] = Field(description="Shape of one input: [channels, height, width].")
    layers: list[ModelLayer] = Field(description="The summary rows, with each layer's configuration.")
    total_params: int = Field(description="Weights and biases in all.")
    class_labels: list[str] = Field(description="The label of each output class.")
    losses: list[str] = Field(description="Losses a backward pass can use.")


class ParamsResponse(BaseModel):
    layer: str = Field(description="The layer's name, e.g. conv1.")
    params: dict[str, dict[str, Any]] = Field(description="W and b as arrays, the session's current values. "
                                              + ARRAY_NOTE)
    steps: int = Field(description="SGD steps applied to this session since the last reset.")


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="ok when the model is loaded.")
    model: str = Field(description="The model file served.")
    sessions: int = Field(description="Sessions held now.")
