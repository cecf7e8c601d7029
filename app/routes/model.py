"""POST /api/model: a learner's own model file (.onnx or .npz) becomes the network their session runs.

    POST /api/model   multipart: file (the model), optional labels ("cat, dog, …"), mean and std ("0.5, 0.5, 0.5")
                      -> the model's summary (GET /api/model's answer): layers, shapes, parameters, labels, and what
                         the import folded or dropped
    POST /api/reset   back to the served model (app.routes.api)

The body is bounded by the body-limit middleware (CNN_MAX_MODEL_BYTES plus the multipart envelope), and the file is
parsed on a worker thread through the engine's gate: a model of a few megabytes takes a while to read and check.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from app.errors import MissingFile, UnsupportedMediaType
from app.routes.api import ERRORS, GATED
from app.routes.deps import ServicesDep, SessionDep
from app.schemas import ErrorResponse, ModelResponse
from app.services.models import UploadedModel, read_uploaded_model, with_user_choices

router = APIRouter(prefix="/api", tags=["network"])

UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, **GATED,
    400: {"model": ErrorResponse, "description": "Not a model file that can be read: truncated, foreign, not .onnx "
          "or .npz, weights kept in other files (external data)."},
    413: {"model": ErrorResponse, "description": "The file is over CNN_MAX_MODEL_BYTES, or a tensor in it over the "
          "library's limit."},
    422: {"model": ErrorResponse, "description": "A valid model the engine cannot run (the message names the "
          "operator, the node and the opset, or the shape), or labels, mean or std that do not fit it."},
}

MODEL_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "An .onnx model (as PyTorch exports it) or an .npz saved by cnn-train."},
                "labels": {"type": "string", "description": "Class names separated by commas, one per output "
                           "(default: the file's metadata, else 0, 1, 2, …)."},
                "mean": {"type": "string", "description": "Per channel, subtracted from [0, 1] pixel values, e.g. "
                         "'0.4914, 0.4822, 0.4465' (default: the file's metadata, else none). Needs std."},
                "std": {"type": "string", "description": "Per channel, what the centred values are divided by."},
            },
        }}},
    }
}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


@router.post("/model", response_model=ModelResponse, responses=UPLOAD_ERRORS, openapi_extra=MODEL_BODY,
             summary="Upload a model (.onnx or .npz): the session runs it from now on, until a reset")
async def upload_model(request: Request, state: SessionDep, svc: ServicesDep) -> ModelResponse:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType(f"content type {content_type or 'missing'!r} is not accepted: send the model as "
                                   "multipart/form-data in a field named 'file'")
    form = await request.form(max_files=1, max_fields=8)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise MissingFile("the upload has no file: send the model (.onnx or .npz) in a form field named 'file'")
    data = await upload.read()
    uploaded = await svc.gate.run(read_uploaded_model, data, upload.filename or "model", svc.settings.max_model_bytes)
    meta = with_user_choices(uploaded.meta, uploaded.spec["input_shape"][0], uploaded.classes,
                             labels=_text(form.get("labels")), mean=_text(form.get("mean")), std=_text(form.get("std")))
    return svc.network.use_upload(state, UploadedModel(uploaded.spec, uploaded.params, meta, uploaded.classes))
