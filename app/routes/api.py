"""The REST API: each route names what it needs (dependencies) and hands it to one network service call, whose
response model is the answer.

A pass on one image takes a fraction of a millisecond and holds the GIL for most of it, so forward, backward, step and
reset run on the event loop: handing them to a worker thread cost more CPU than it freed (benchmarks/corridor.py).
Gradcheck and export, which take milliseconds, and the decoding of uploaded images go through the engine's gate
(app.services.gate): a few at a time on worker threads, a bounded queue, and 503 with Retry-After beyond it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from app.routes.deps import NetworkDep, NewInputDep, ServicesDep, SessionDep
from app.schemas import (
    BackwardRequest,
    BackwardResponse,
    ErrorResponse,
    ExplainRequest,
    ExplainResponse,
    ForwardRequest,
    ForwardResponse,
    GradcheckRequest,
    GradcheckResponse,
    InputStepsResponse,
    ModelResponse,
    ParamsResponse,
    ResetResponse,
    StepRequest,
    StepResponse,
)

router = APIRouter(prefix="/api", tags=["network"])

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in [
        (400, "The request cannot be used (e.g. a bad data URL, an unreadable image)."),
        (404, "No layer or parameter of that name."),
        (409, "A step is missing: backward needs a forward first; an update needs a backward."),
        (413, "The image is larger than allowed, in bytes or in pixels."),
        (415, "Not a supported content or image type."),
        (422, "A value is out of range, the canvas is empty, or the update would blow the weights up."),
        (429, "A request of this tab is still running and another already waits: try again after Retry-After."),
    ]
}

# Routes whose work goes through the engine's gate may also answer 503.
GATED: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "The server is busy with as many checks, exports and uploads as it "
          "takes: try again after Retry-After."},
}

# The body is read by a dependency (it may be multipart or JSON), so the schema is stated here.
FORWARD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary",
                                                   "description": "An image file: PNG, JPEG, GIF, BMP or WebP."}}}
            },
            "application/json": {"schema": ForwardRequest.model_json_schema()},
        },
    }
}


@router.get("/model", response_model=ModelResponse, summary="The architecture the session runs (the served one, or "
            "one trained in the lab: POST /api/train/{id}/use), its summary rows and the class labels")
async def get_model(state: SessionDep, net: NetworkDep) -> ModelResponse:
    return net.model_info(state)


@router.post("/forward", response_model=ForwardResponse, responses={**ERRORS, **GATED}, openapi_extra=FORWARD_BODY,
             summary="Run an input forward through every layer (an image is preprocessed first)")
async def forward(new: NewInputDep, state: SessionDep, net: NetworkDep) -> ForwardResponse:
    return net.forward(state, new)


@router.get("/params/{layer}", response_model=ParamsResponse, responses=ERRORS,
            summary="The session's current weights and biases of one layer")
async def layer_params(layer: str, state: SessionDep, net: NetworkDep) -> ParamsResponse:
    return net.layer_params(state, layer)


@router.get("/input/steps", response_model=InputStepsResponse, responses=ERRORS,
            summary="The preprocessing steps of the last uploaded image, as images")
async def input_steps(state: SessionDep, net: NetworkDep) -> InputStepsResponse:
    return net.input_steps(state)


@router.post("/backward", response_model=BackwardResponse, responses=ERRORS,
             summary="Backpropagate from the loss for a target label through every layer")
async def backward(body: BackwardRequest, state: SessionDep, net: NetworkDep) -> BackwardResponse:
    return net.backward(state, body)


@router.post("/step", response_model=StepResponse, responses=ERRORS,
             summary="Apply one SGD step to the session's weights and run the same input forward again")
async def step(body: StepRequest, state: SessionDep, net: NetworkDep) -> StepResponse:
    return net.step(state, body)


@router.post("/reset", response_model=ResetResponse, summary="Return the session to the pretrained weights")
async def reset(state: SessionDep, net: NetworkDep) -> ResetResponse:
    return net.reset(state)


@router.post("/gradcheck", response_model=GradcheckResponse, responses={**ERRORS, **GATED},
             summary="Compare backward's gradient with finite differences for sampled weights")
async def gradcheck(body: GradcheckRequest, state: SessionDep, svc: ServicesDep) -> GradcheckResponse:
    # Its cost is bounded: at most 64 sampled weights (GradcheckRequest.samples), two forwards each.
    return await svc.gate.run(svc.network.gradcheck, state, body)


@router.post("/explain", response_model=ExplainResponse, responses={**ERRORS, **GATED},
             summary="Why the network predicts what it does: a saliency, Grad-CAM or occlusion map over the input")
async def explain(body: ExplainRequest, state: SessionDep, svc: ServicesDep) -> ExplainResponse:
    # Through the gate: occlusion runs ~150 forwards (in batches), a few tens of milliseconds.
    return await svc.gate.run(svc.network.explain, state, body)


@router.get("/export", summary="The session's current tensors (float64) as an .npz file",
            responses={200: {"content": {"application/octet-stream": {}}, "description": "An .npz archive."},
                       **GATED})
async def export(state: SessionDep, svc: ServicesDep) -> Response:
    data = await svc.gate.run(svc.network.export, state)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": 'attachment; filename="cnn-trace.npz"'})
