"""The REST API: thin routes that parse, call the network service on the caller's session, and answer a schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from app.encoding import encode_json
from app.errors import AppError
from app.routes.deps import Services, open_session, request_session_key, services
from app.schemas import (
    BackwardRequest,
    BackwardResponse,
    ErrorResponse,
    ForwardResponse,
    GradcheckRequest,
    GradcheckResponse,
    ImageRequest,
    ModelResponse,
    ParamsResponse,
    ResetResponse,
    StepRequest,
    StepResponse,
)
from app.services.images import decode_data_url, image_to_input

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
    ]
}

ServicesDep = Annotated[Services, Depends(services)]
SessionKey = Annotated[str, Depends(request_session_key)]


async def _read_limited(request: Request, limit: int, image_limit: int) -> bytes:
    """The raw body, refusing more than `limit` bytes without reading them all (Content-Length may be absent).

    `limit` leaves room for the envelope (multipart headers, base64); the message names the image limit people set.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), image_limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(len(body), image_limit, at_least=True)
    # Cache it where Starlette's own body() does, so that request.form() can still parse what was read here.
    request._body = bytes(body)
    return request._body


def _too_large(size: int, limit: int, at_least: bool = False) -> AppError:
    amount = f"at least {size:,} bytes" if at_least else f"{size:,} bytes"
    megabytes = f" ({limit / 2**20:.1f} MB)" if limit >= 2**20 // 10 else ""
    return AppError(f"the request is {amount}, more than the {limit:,} bytes{megabytes} an image may have: send a "
                    "smaller image", code="too_large", status_code=413)


async def _image_bytes(request: Request, svc: Services) -> bytes:
    """The image from a multipart upload (field `file`) or a JSON body {"image": "<data URL>"}."""
    limit = svc.settings.max_upload_bytes
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        await _read_limited(request, limit + 64 * 1024, limit)  # refuses an oversized body before parsing it
        form = await request.form(max_files=1, max_fields=4)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise AppError("the upload has no file: send the image in a form field named 'file'",
                           code="missing_file", status_code=400)
        if upload.size is not None and upload.size > limit:
            raise _too_large(upload.size, limit)
        return await upload.read()
    if content_type == "application/json":
        body = await _read_limited(request, limit * 4 // 3 + 64 * 1024, limit)  # base64 is 4/3 of the bytes
        try:
            parsed = ImageRequest.model_validate_json(body)
        except ValueError:
            raise AppError('the JSON body must be {"image": "data:image/png;base64,..."}', code="invalid_request",
                           status_code=422) from None
        return decode_data_url(parsed.image, svc.image_limits)
    raise AppError(f"content type {content_type or 'missing'!r} is not accepted: send multipart/form-data with a "
                   "'file' field, or JSON {\"image\": \"<data URL>\"}", code="unsupported_media_type", status_code=415)


FORWARD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "required": ["file"],
                           "properties": {"file": {"type": "string", "format": "binary",
                                                   "description": "An image file: PNG, JPEG, GIF, BMP or WebP."}}}
            },
            "application/json": {"schema": ImageRequest.model_json_schema()},
        },
    }
}


@router.get("/model", response_model=ModelResponse, summary="The architecture, its summary rows and the class labels")
def get_model(svc: ServicesDep) -> dict[str, Any]:
    return svc.network.model_info()


@router.post("/forward", response_model=ForwardResponse, responses=ERRORS, openapi_extra=FORWARD_BODY,
             summary="Preprocess an image and run it forward through every layer")
async def forward(request: Request, svc: ServicesDep, key: SessionKey) -> dict[str, Any]:
    data = await _image_bytes(request, svc)
    pre = await run_in_threadpool(image_to_input, data, svc.image_limits)

    def run() -> dict[str, Any]:
        with open_session(svc, key) as state:
            result = svc.network.forward(state, pre.input)
            state.preprocess_steps = dict(pre.steps)
        return encode_json({"prediction": result.prediction, "probabilities": result.probabilities.tolist(),
                            "input": result.input, "layers": result.layers})

    return await run_in_threadpool(run)


@router.get("/params/{layer}", responses=ERRORS, response_model=ParamsResponse,
            summary="The session's current weights and biases of one layer")
def layer_params(layer: str, svc: ServicesDep, key: SessionKey) -> dict[str, Any]:
    with open_session(svc, key) as state:
        params = svc.network.layer_params(state, layer)
        return encode_json({"layer": layer, "params": params, "steps": state.steps})


@router.get("/input/steps", responses=ERRORS, summary="The preprocessing steps of the last input, as images")
def input_steps(svc: ServicesDep, key: SessionKey) -> dict[str, Any]:
    with open_session(svc, key) as state:
        if state.input is None:
            raise AppError("there is no input yet: draw or upload a digit first", code="no_forward_yet",
                           status_code=409)
        return encode_json({"steps": state.preprocess_steps})


@router.post("/backward", response_model=BackwardResponse, responses=ERRORS,
             summary="Backpropagate from the loss for a target label through every layer")
def backward(body: BackwardRequest, svc: ServicesDep, key: SessionKey) -> dict[str, Any]:
    with open_session(svc, key) as state:
        result = svc.network.backward(state, body.target, body.loss)
    return encode_json({"target": result.target, "loss_name": result.loss_name, "loss": result.loss,
                        "prediction": result.prediction, "probabilities": result.probabilities.tolist(),
                        "layers": result.layers})


@router.post("/step", response_model=StepResponse, responses=ERRORS,
             summary="Apply one SGD step to the session's weights and run the same input again")
def step(body: StepRequest, svc: ServicesDep, key: SessionKey) -> dict[str, Any]:
    svc.check_learning_rate(body.lr)
    with open_session(svc, key) as state:
        r = svc.network.step(state, body.lr, body.momentum)
        history = list(state.loss_history)
    return encode_json({"lr": r.lr, "momentum": r.momentum, "steps": r.steps, "loss_before": r.loss_before,
                        "loss_after": r.loss_after, "loss_history": history, "prediction_before": r.prediction_before,
                        "prediction": r.prediction, "probabilities_before": r.probabilities_before.tolist(),
                        "probabilities": r.probabilities.tolist(), "layers": r.layers})


@router.post("/reset", response_model=ResetResponse, summary="Return the session to the pretrained weights")
def reset(svc: ServicesDep, key: SessionKey) -> dict[str, Any]:
    with open_session(svc, key) as state:
        svc.network.reset(state)
    return {"steps": 0, "message": "the weights are back to the pretrained ones"}


@router.post("/gradcheck", response_model=GradcheckResponse, responses=ERRORS,
             summary="Compare backward's gradient with finite differences for sampled weights")
def gradcheck(body: GradcheckRequest, svc: ServicesDep, key: SessionKey) -> dict[str, Any]:
    with open_session(svc, key) as state:
        return svc.network.gradcheck(state, body.param, body.samples, body.seed)


@router.get("/export", summary="The session's current tensors (float64) as an .npz file",
            responses={200: {"content": {"application/octet-stream": {}}, "description": "An .npz archive."}})
def export(svc: ServicesDep, key: SessionKey) -> Response:
    with open_session(svc, key) as state:
        data = svc.network.export(state)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": 'attachment; filename="cnn-trace.npz"'})
