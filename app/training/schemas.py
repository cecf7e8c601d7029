"""What crosses the wire for the training lab: requests and answers of /api/spec/check, /api/presets and
/api/train…, with every field described (they become the API docs at /docs). The progress messages a job streams are
described in app.training.worker; they arrive as they are, in `history` and over WS /ws/train/{id}."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt

from app.schemas import WireArray

# --------------------------------------------------------------------------------------------- the editor


class SpecCheckRequest(BaseModel):
    spec: Any = Field(description='The editor\'s spec: {"input_shape": [1, 28, 28], "layers": [{"type": "Conv2D", '
                      '"out_channels": 6, "kernel_size": 5, "padding": 2}, {"type": "ReLU"}, …]}. input_shape and '
                      'dtype may be left out.')


class LayerCheckRow(BaseModel):
    index: int = Field(description="Position in the spec's layers, from 0.")
    name: str = Field(description="The layer's name: its own, or conv1, relu1, … as the engine names them.")
    type: str = Field(description="The layer type as given.")
    output_shape: list[int] | None = Field(description="Output shape for one image; null where it cannot be known.")
    params: int | None = Field(description="Weights and biases; null where the layer is in error.")
    error: str | None = Field(description="What is wrong at this layer, with the numbers; null when it is fine.")
    checked: bool = Field(description="False when the layer could not be checked because an earlier layer's output "
                          "shape is unknown (its `error` says which).")


class SpecCheckResponse(BaseModel):
    ok: bool = Field(description="True when the spec can be trained: no error anywhere.")
    layers: list[LayerCheckRow] = Field(description="One row per layer of the spec, in order.")
    errors: list[str] = Field(description="Every problem, each naming its layer (or the whole spec), including an "
                              "output that is not 10 classes and a network over CNN_TRAIN_MAX_PARAMS.")
    total_params: int | None = Field(description="Parameters in all; null unless every layer's count is known.")
    max_params: int = Field(description="The most parameters a network trained here may have.")


class Preset(BaseModel):
    name: str = Field(description="The preset's key, also accepted as POST /api/train's `spec`.")
    description: str = Field(description="What it is and what it shows.")
    spec: dict[str, Any] = Field(description="The spec, ready for the editor and POST /api/train.")
    total_params: int = Field(description="Its parameter count.")


class PresetsResponse(BaseModel):
    presets: list[Preset] = Field(description="LeNet-5, the 1998 LeNet, a tiny two-layer net, a deep sigmoid net.")


# ------------------------------------------------------------------------------------------------- training


class TrainRequest(BaseModel):
    spec: dict[str, Any] | str = Field(default="lenet5", description="An engine spec (as the editor makes it), or "
                                       "the name of a preset (GET /api/presets), e.g. \"lenet5\".")
    epochs: StrictInt = Field(default=1, ge=1, description="Passes over the training images (at most "
                              "CNN_TRAIN_MAX_EPOCHS).")
    batch_size: StrictInt = Field(default=64, ge=1, le=1024, description="Images per step.")
    lr: StrictFloat | StrictInt | None = Field(default=None, gt=0, allow_inf_nan=False,
                                               description="Learning rate, constant over the run (at most "
                                               "CNN_MAX_LEARNING_RATE); default 0.05 for sgd, 0.001 for adam.")
    momentum: StrictFloat | StrictInt = Field(default=0.9, ge=0, lt=1, description="SGD's momentum μ "
                                              "(torch.optim.SGD's convention); adam ignores it (β₁ = 0.9).")
    optimizer: Literal["sgd", "adam"] = Field(default="sgd", description="sgd (with momentum) or adam (β = 0.9, "
                                              "0.999, ε = 1e-8), both as PyTorch computes them.")
    train_size: StrictInt = Field(default=10_000, ge=1, description="Training images, drawn at random (by the seed) "
                                  "from MNIST's training set less 2,000 held out for validation (at most "
                                  "CNN_TRAIN_MAX_TRAIN_SIZE).")
    augment: StrictBool = Field(default=False, description="Perturb the images each epoch (rotation, scale, shift, "
                                "stroke width), as cnn-train does.")
    seed: StrictInt = Field(default=0, ge=0, le=2**31 - 1, description="Seeds the weights, the split and the order.")


class TrainStarted(BaseModel):
    id: str = Field(description="The job's id, for GET /api/train/{id} and WS /ws/train/{id}.")
    state: Literal["queued", "running"] = Field(description="running if a worker was free, else queued.")
    queue_position: int | None = Field(description="1 for the next job to start; null unless queued.")


JobState = Literal["queued", "running", "paused", "done", "failed", "stopped"]


class CheckpointInfo(BaseModel):
    k: int = Field(description="Its number, from 0 (the random start) to the last (the end).")
    epoch: int = Field(description="The epoch it was saved in (0: before training).")
    step: int = Field(description="Steps taken when it was saved.")


class TrainStatus(BaseModel):
    id: str = Field(description="The job's id.")
    state: JobState = Field(description="queued → running (⇄ paused) → done | failed | stopped.")
    epoch: int = Field(description="The epoch of the latest message (0 before the first step).")
    step: int = Field(description="Steps taken so far.")
    total_steps: int | None = Field(description="Steps of the whole run; null until the job started.")
    queue_position: int | None = Field(description="1 for the next job to start; null unless queued.")
    test_accuracy: float | None = Field(description="Accuracy on MNIST's 10,000 test digits; null until done.")
    error: str | None = Field(description="Why it failed (e.g. the loss diverged, with the learning rate); or why it "
                              "was stopped (on request, the wall-time limit, nobody watching).")
    request: dict[str, Any] = Field(description="What was asked: spec (normalised), epochs, batch_size, lr, …")
    checkpoints: list[CheckpointInfo] = Field(description="Saved checkpoints, oldest first.")
    history: list[dict[str, Any]] = Field(description="The job's messages from index `since` on, as WS "
                                          "/ws/train/{id} sends them: started, running, progress, snapshot, "
                                          "validation, checkpoint, paused, resumed, done, failed, stopped.")
    history_length: int = Field(description="Messages in all; pass it as ?since= to get only newer ones.")


class CheckpointKernels(BaseModel):
    k: int = Field(description="The checkpoint's number.")
    epoch: int = Field(description="The epoch it was saved in.")
    step: int = Field(description="Steps taken when it was saved.")
    layer: str | None = Field(description="The first Conv2D layer's name, whose kernels these are; null if none.")
    kernels: WireArray | None = Field(description="Its weights (F, C, KH, KW); null without a Conv2D layer.")


class TestDigit(BaseModel):
    index: int = Field(description="Its index in MNIST's test set.")
    label: int = Field(description="The digit it shows.")
    image: WireArray = Field(description="The 28×28 uint8 image, white ink on black: POST /api/forward takes it "
                             "as {\"input\": …}.")


class UseResponse(BaseModel):
    message: str = Field(description="What the session now runs.")
    spec: dict[str, Any] = Field(description="The architecture the session now runs (GET /api/model shows it).")
    total_params: int = Field(description="Its parameter count.")
