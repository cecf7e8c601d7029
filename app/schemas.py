"""What crosses the wire, with every field described: these models are the API documentation at /docs.

Services build these models with numpy arrays inside; the array types below (`WireArray`, `WireMatrix`) serialise
them as app.encoding describes: base64 in JSON, or as entries of a binary WebSocket frame when the serialisation
context holds a `frame` (app.encoding.Frame). One model per thing on the wire, used by REST and WebSocket alike.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    SerializationInfo,
    StrictFloat,
    StrictInt,
    WithJsonSchema,
)

from app import encoding
from app.encoding import Outer

# ---------------------------------------------------------------------------------------------------- arrays

ARRAY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "WireArray",
    "description": "An array: shape, element type, and its little-endian bytes in base64 (float32 carries 7 "
                   "significant digits; the exact float64 values are in GET /api/export). In a binary WebSocket frame "
                   "`data` is replaced by `offset` and `nbytes` into the frame's payload.",
    "required": ["shape", "dtype", "data"],
    "properties": {
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}, "description": "Size of each axis."},
        "dtype": {"type": "string", "enum": list(encoding.WIRE_DTYPES), "description": "Element type."},
        "data": {"type": "string", "contentEncoding": "base64",
                 "description": "The elements in C order, little-endian."},
    },
}
OUTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "WireOuter",
    "description": "A matrix sent as the outer product of two vectors, scale · u vᵀ: a dense layer's ∂E/∂W for one "
                   "example is δ·xᵀ, so its K·D values travel as K + D.",
    "required": ["shape", "dtype", "outer", "scale"],
    "properties": {
        "shape": {"type": "array", "items": {"type": "integer"}, "description": "[K, D], the matrix's shape."},
        "dtype": {"type": "string", "enum": ["float32"], "description": "Element type of the matrix."},
        "outer": {"type": "array", "items": ARRAY_SCHEMA, "minItems": 2, "maxItems": 2,
                  "description": "u (K,) and v (D,)."},
        "scale": {"type": "number", "description": "The factor s."},
    },
}


def _serialize(value: np.ndarray | Outer, info: SerializationInfo) -> dict[str, Any]:
    frame = info.context.get("frame") if isinstance(info.context, dict) else None
    leaf = frame.place if frame is not None else encoding.to_json
    return encoding.outer_to_json(value, leaf) if isinstance(value, Outer) else leaf(value)


def _validate(value: Any) -> np.ndarray | Outer:
    if isinstance(value, np.ndarray | Outer):
        return value
    return encoding.from_json(value)


WireArray = Annotated[np.ndarray, PlainValidator(_validate), PlainSerializer(_serialize), WithJsonSchema(ARRAY_SCHEMA)]
WireMatrix = Annotated[np.ndarray | Outer, PlainValidator(_validate), PlainSerializer(_serialize),
                       WithJsonSchema({"anyOf": [ARRAY_SCHEMA, OUTER_SCHEMA]})]


# -------------------------------------------------------------------------------------------------- requests

LossName = Literal["cross_entropy", "mse"]
LOSS_DESCRIPTION = ("cross_entropy: softmax cross-entropy, δ of the last layer = p − y. mse: ½Σ(t − y)² on the raw "
                    "outputs, δ = y − t.")


MAX_TARGET = 999  # the largest class index of any model (app.services.models.MAX_CLASSES − 1); the model's own checked


class ErrorResponse(BaseModel):
    detail: str = Field(description="What went wrong, in plain words, and what to do about it.")
    code: str = Field(description="A stable machine-readable code, e.g. too_large, empty_image, no_forward_yet.")


class ForwardRequest(BaseModel):
    """The JSON body of POST /api/forward: an image to preprocess, or an input the page preprocessed itself."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"image": "data:image/png;base64,iVBORw0KGgo..."}]})
    # No max_length: the body is bounded as it is read (CNN_MAX_UPLOAD_BYTES, as base64: 4/3 of it), and a fixed
    # length here would refuse images a raised limit allows.
    image: str | None = Field(default=None, description="An image as a data URL: data:image/png;base64,... (PNG, "
                              "JPEG, GIF, BMP, WebP). The server preprocesses it the MNIST way and answers with the "
                              "input it made.")
    input: WireArray | None = Field(default=None, description="The network's input, already preprocessed: (H, W) for "
                                    "one channel or (C, H, W), values in [0, 1] ((28, 28) white ink on black for a "
                                    "digit model; float32, or uint8 read as n/255), normalized by the server when the "
                                    "model has a mean and std. The answer's `input` is then null: the sender has it.")


class BackwardRequest(BaseModel):
    target: StrictInt = Field(ge=0, le=MAX_TARGET, description="The label the network should have given (0 to the "
                              "number of classes − 1; 0-9 for digits).")
    loss: LossName = Field(default="cross_entropy", description=LOSS_DESCRIPTION)


class StepRequest(BaseModel):
    lr: StrictFloat = Field(gt=0, allow_inf_nan=False, description="Learning rate of the SGD step, w ← w − lr·v "
                            "(at most CNN_MAX_LEARNING_RATE).")
    momentum: StrictFloat = Field(default=0.0, ge=0, lt=1, description="Momentum μ: v ← μ·v + ∂E/∂w (0: plain SGD).")
    target: StrictInt | None = Field(default=None, ge=0, le=MAX_TARGET, description="The label to step towards; "
                                     "default: the last backward's. The step uses the gradients of the backward the "
                                     "session holds for this target, and runs that backward first if it holds none.")
    loss: LossName | None = Field(default=None, description="The loss to step on; default: the last backward's. "
                                  + LOSS_DESCRIPTION)


class GradcheckRequest(BaseModel):
    param: str = Field(description='A parameter name from GET /api/model, e.g. "conv1.W" or "dense3.b".',
                       max_length=64)
    samples: StrictInt = Field(default=8, ge=1, le=64, description="How many weights to sample.")
    seed: StrictInt = Field(default=0, ge=0, le=2**31 - 1, description="Seed for choosing the weights.")


ExplainMethod = Literal["saliency", "grad_cam", "occlusion"]


class ExplainRequest(BaseModel):
    method: ExplainMethod = Field(description="saliency: |∂score/∂input|; grad_cam: the last convolution's maps "
                                  "weighted by the spatial means of ∂score/∂maps; occlusion: the score's drop when a "
                                  "patch of the input is hidden.")
    target: StrictInt | None = Field(default=None, ge=0, description="The class to explain (default: the "
                                     "prediction).")


class ExplainResponse(BaseModel):
    method: ExplainMethod = Field(description="The method used.")
    target: int = Field(description="The class explained.")
    label: str = Field(description="Its name.")
    prediction: int = Field(description="The class the network predicts for the input.")
    map: WireArray = Field(description="The map over the input, (H, W): where it is large, the input mattered most "
                           "to the class's score (occlusion: negative where hiding the pixels raised it).")
    layer: str | None = Field(default=None, description="Grad-CAM: the layer whose maps were weighted.")
    meaning: str = Field(description="One sentence on what the map shows.")


# ---------------------------------------------------------------------------------------------- layers of a pass


class LayerId(BaseModel):
    index: int = Field(description="Position in the network, from 0.")
    name: str = Field(description="Layer name, e.g. conv1.")
    kind: str = Field(description="Layer type: Conv2D, ReLU, MaxPool2D, Flatten, Dense, ….")


class ForwardLayer(LayerId):
    phase: Literal["forward"] = Field(default="forward", description="Which pass this layer's payload belongs to.")
    output_shape: list[int] = Field(description="Shape of the layer's output for one image.")
    output: WireArray = Field(description="The layer's output for this image. For Conv2D and Dense that is the "
                              "weighted input net; the activation layer after it holds f(net).")


class BackwardLayer(LayerId):
    phase: Literal["backward"] = Field(default="backward", description="Which pass this layer's payload belongs to.")
    delta_of: Literal["net", "out"] = Field(description="'net' where `delta` is the sensitivity map δ = ∂E/∂net "
                                            "(Conv2D, Dense), 'out' where it is ∂E/∂out, the gradient arriving at an "
                                            "activation, pooling or reshaping layer.")
    delta: WireArray = Field(description="∂E/∂(this layer's output), the shape of the output.")
    grads: dict[str, WireMatrix] = Field(description="∂E/∂W and ∂E/∂b for a layer with weights (empty otherwise); a "
                                         "dense ∂E/∂W is sent as the outer product δ·xᵀ it is.")
    routing: WireArray | None = Field(default=None, description="MaxPool2D only: (C, OH, OW, 2), the input row and "
                                      "column each output's maximum came from, which is where its error goes.")
    grad_input: WireArray | None = Field(default=None, description="The first layer only: ∂E/∂input, the saliency "
                                         "map.")


class ParamChange(BaseModel):
    shape: list[int] = Field(description="The parameter's shape.")
    delta: WireMatrix = Field(description="Δ = after − before. Without momentum a dense W's Δ = −lr·δ·xᵀ travels as "
                              "that outer product.")
    delta_abs_max: float = Field(description="max |Δ|.")
    before_norm: float = Field(description="‖before‖, the Frobenius norm.")
    after_norm: float = Field(description="‖after‖.")
    after: WireArray | None = Field(default=None, description="The values after the step, for parameters of at most "
                                    "8192 values (null for larger ones: after = before + Δ). The values before are "
                                    "the ones the client holds (GET /api/params/{layer}), so they do not travel again.")


class UpdateLayer(LayerId):
    phase: Literal["update"] = Field(default="update", description="Which pass this layer's payload belongs to.")
    params: dict[str, ParamChange] = Field(description="Per parameter (W, b) what the step changed.")


# ------------------------------------------------------------------------------------------------- responses


class ForwardPass(BaseModel):
    prediction: int = Field(description="The class with the highest probability (0-9).")
    probabilities: list[float] = Field(description="Softmax of the last layer's output, one per class 0-9.")
    layers: list[ForwardLayer] = Field(description="Every layer's output, first to last.")


class ForwardResponse(ForwardPass):
    input: WireArray | None = Field(description="The preprocessed input the network read ((28, 28) for a digit "
                                    "model, (H, W) or (C, H, W) for others); null when the request sent the input "
                                    "itself.")
    input_warnings: list[str] = Field(default_factory=list, description="What looks wrong with the input the server "
                                      "made from an image, in words for the learner: ink touching the edge, far too "
                                      "little or too much ink. Empty when nothing does, or when the input was sent.")


class BackwardResponse(BaseModel):
    target: int = Field(description="The target label used.")
    loss_name: LossName = Field(description="The loss used.")
    loss: float = Field(description="The loss E for this image and target.")
    prediction: int = Field(description="The current prediction for the stored input.")
    probabilities: list[float] = Field(description="Softmax probabilities, one per class.")
    layers: list[BackwardLayer] = Field(description="From the last layer back to the first.")


class StepResponse(BaseModel):
    lr: float = Field(description="The learning rate applied.")
    momentum: float = Field(description="The momentum applied.")
    target: int = Field(description="The target label the step moved towards.")
    loss_name: LossName = Field(description="The loss the step descended.")
    steps: int = Field(description="Steps applied since the last reset.")
    loss_before: float = Field(description="The loss on the stored input and target before the step.")
    loss_after: float = Field(description="The loss after the step.")
    loss_history: list[float] = Field(description="The loss after each step since the last reset.")
    prediction_before: int = Field(description="The prediction before the step.")
    prediction: int = Field(description="The prediction after the step.")
    probabilities_before: list[float] = Field(description="Probabilities before the step.")
    probabilities: list[float] = Field(description="Probabilities after the step, on the same input.")
    layers: list[UpdateLayer] = Field(description="The layers with weights, first to last.")
    forward: ForwardPass = Field(description="The forward pass on the same input with the new weights: what the page "
                                 "shows next, so it never sends the input again.")


class ResetResponse(BaseModel):
    steps: int = Field(description="Steps since the reset: 0.")
    message: str = Field(description="What happened.")
    forward: ForwardPass | None = Field(description="The forward pass on the held input with the pretrained weights; "
                                        "null when the session holds no input.")


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


class ModelLayer(LayerId):
    model_config = ConfigDict(extra="allow")
    output_shape: list[int] = Field(description="Shape of the layer's output for one image.")
    params: int = Field(description="Number of weights and biases.")


class ImportNoteOut(BaseModel):
    op: str = Field(description="The file's operator, e.g. BatchNormalization.")
    node: str = Field(description="The node's name in the file.")
    action: str = Field(description="What the import did: 'folded into conv1', 'dropped', …")
    why: str = Field(description="Why, in plain words.")


class ModelResponse(BaseModel):
    source: Literal["served", "uploaded", "trained"] = Field(
        default="served", description="The served model, one the learner uploaded (POST /api/model), or one trained "
        "in the lab.")
    file: str | None = Field(default=None, description="The model file's name.")
    format: str | None = Field(default=None, description="onnx or npz; null for a network trained in the lab.")
    output: str = Field(default="logits", description="What the file's model returned: logits, or probabilities / "
                        "log-probabilities when it ended in (Log)Softmax, which the engine leaves to the loss.")
    mean: list[float] | None = Field(default=None, description="Per channel, subtracted from [0, 1] pixel values "
                                     "before the model reads them (with std); null: no normalization.")
    std: list[float] | None = Field(default=None, description="Per channel, what the centred values are divided by.")
    notes: list[ImportNoteOut] = Field(default_factory=list, description="What the import folded, dropped or "
                                       "rewrote instead of making it a layer.")
    preprocessing: Literal["mnist", "resize"] = Field(
        default="mnist", description="How an image becomes the input: mnist (a 1×28×28 digit model: cropped to the "
        "ink, 20 px box, centre of mass), resize (the whole picture scaled to H×W, colour for C = 3).")
    spec: dict[str, Any] = Field(description="The architecture as plain data (input_shape, dtype, layers).")
    input_shape: list[int] = Field(description="Shape of one input: [channels, height, width].")
    layers: list[ModelLayer] = Field(description="The summary rows, each with its layer's configuration (kernel_size, "
                                     "stride, padding, …) besides the fields listed.")
    total_params: int = Field(description="Weights and biases in all.")
    class_labels: list[str] = Field(description="The label of each output class.")
    losses: list[str] = Field(description="Losses a backward pass can use.")


class ParamsResponse(BaseModel):
    layer: str = Field(description="The layer's name, e.g. conv1.")
    params: dict[str, WireArray] = Field(description="W and b, the session's current values.")
    steps: int = Field(description="SGD steps applied to this session since the last reset.")


class InputStepsResponse(BaseModel):
    steps: dict[str, WireArray] = Field(description="The preprocessing steps of the last uploaded image, in order: "
                                        "grayscale, inverted, cropped, scaled, centered (empty when the input was "
                                        "sent already preprocessed).")


class HealthResponse(BaseModel):
    status: Literal["ok"] = Field(description="ok when the model is loaded.")
    model: str = Field(description="The model file served.")
    sessions: int = Field(description="Sessions held now.")
