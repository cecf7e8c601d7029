"""The training lab's routes: the editor's spec check and presets, training jobs and their stream.

    POST /api/spec/check                 {"spec": …} -> per layer output shape and parameters, or the error
    GET  /api/presets                    the editor's presets
    POST /api/train                      a TrainRequest -> 202 {"id", "state", "queue_position"}
    GET  /api/train/{id}?since=n         state, progress, history from message n on
    POST /api/train/{id}/pause|resume|stop
    GET  /api/train/{id}/checkpoints/{k} conv1's kernels at checkpoint k
    GET  /api/train/{id}/model.npz       the trained model (cnn.save_model's format)
    POST /api/train/{id}/use             the session now runs the trained network
    GET  /api/mnist/test/{index}         a test digit (the misclassified browser opens it)
    WS   /ws/train/{id}?since=n          every message of the job as JSON text, from n on, until it ends

Jobs run in worker processes of this server (app.training.jobs), or, with the Redis session store, in
cnn-train-worker processes fed by RQ (app.training.rq_jobs), so that every replica sees every job.

A job belongs to the session that started it (the cookie, and the tab as X-Tab-Id or ?tab=): only that session may
pause, stop or use it, and it has one job at a time. Reading a job's state needs only its id, which is unguessable.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse

from app.errors import JobNotFound
from app.routes.deps import NetworkDep, SessionDep
from app.schemas import ErrorResponse
from app.training.schemas import (
    CheckpointKernels,
    PresetsResponse,
    SpecCheckRequest,
    SpecCheckResponse,
    TestDigit,
    TrainRequest,
    TrainStarted,
    TrainStatus,
    UseResponse,
)
from app.training.service import TrainingService

router = APIRouter(tags=["training"])
WS_POLL = 0.1  # seconds between looks for new messages of a job


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "The body is not JSON.",
        403: "The job belongs to another session.",
        404: "No such job, checkpoint or test digit.",
        409: "The session has a job already, or the job is not in a state for this; or MNIST is not on the server "
             "(training_data_missing: the message says how to get it).",
        413: "The body is larger than CNN_MAX_JSON_BYTES.",
        422: "The spec cannot be trained, or a value is over a limit (the message names CNN_TRAIN_…).",
        429: "A request of this tab is still running and another already waits: try again after Retry-After.",
        503: "The training queue is full (CNN_TRAIN_QUEUE), or the server has no room for a new session: try again "
             "after Retry-After.",
    }
    return {c: {"model": ErrorResponse, "description": text[c]} for c in codes}


async def training(request: Request) -> TrainingService:
    service: TrainingService = request.app.state.training
    return service


TrainingDep = Annotated[TrainingService, Depends(training)]


async def owner_key(state: SessionDep) -> str:
    """The caller's session key (app.routes.deps names sessions: the cookie, and the tab if it says which)."""
    return state.id


OwnerDep = Annotated[str, Depends(owner_key)]


@router.post("/api/spec/check", response_model=SpecCheckResponse, responses=_errors(400, 413, 422),
             summary="Each layer's output shape and parameters, or its error with the numbers")
async def check_spec(body: SpecCheckRequest, lab: TrainingDep) -> SpecCheckResponse:
    return lab.check(body.spec)


@router.get("/api/presets", response_model=PresetsResponse, summary="The editor's preset architectures")
async def presets(lab: TrainingDep) -> PresetsResponse:
    return lab.presets()


@router.post("/api/train", response_model=TrainStarted, status_code=202,
             responses=_errors(400, 409, 413, 422, 429, 503),
             summary="Start a training job in a worker process (or queue it)")
async def start(body: TrainRequest, owner: OwnerDep, lab: TrainingDep) -> TrainStarted:
    return lab.start(owner, body)


@router.get("/api/train/{job_id}", response_model=TrainStatus, responses=_errors(404, 422),
            summary="A job's state, progress and messages (from ?since= on)")
async def status(job_id: str, lab: TrainingDep, since: Annotated[int, Query(ge=0)] = 0) -> TrainStatus:
    return lab.status(lab.job(job_id), since)


@router.post("/api/train/{job_id}/pause", response_model=TrainStatus,
             responses=_errors(403, 404, 409, 422, 429, 503),
             summary="Pause a running job between two steps (it keeps its worker)")
async def pause(job_id: str, owner: OwnerDep, lab: TrainingDep) -> TrainStatus:
    return lab.pause(lab.job(job_id, owner))


@router.post("/api/train/{job_id}/resume", response_model=TrainStatus,
             responses=_errors(403, 404, 409, 422, 429, 503),
             summary="Resume a paused job")
async def resume(job_id: str, owner: OwnerDep, lab: TrainingDep) -> TrainStatus:
    return lab.resume(lab.job(job_id, owner))


@router.post("/api/train/{job_id}/stop", response_model=TrainStatus, responses=_errors(403, 404, 422, 429, 503),
             summary="Stop a job: its process saves the model so far and exits (or is terminated)")
async def stop(job_id: str, owner: OwnerDep, lab: TrainingDep) -> TrainStatus:
    return lab.stop(lab.job(job_id, owner))


@router.get("/api/train/{job_id}/checkpoints/{k}", response_model=CheckpointKernels, responses=_errors(404, 422),
            summary="The first Conv2D layer's kernels at checkpoint k (0: the random start)")
async def checkpoint(job_id: str, k: int, lab: TrainingDep) -> CheckpointKernels:
    return lab.checkpoint_kernels(lab.job(job_id), k)


@router.get("/api/train/{job_id}/model.npz", responses={**_errors(404, 409, 422), 200: {
    "content": {"application/octet-stream": {}}, "description": "The model, as cnn.save_model writes it."}},
            summary="Download the trained model")
async def model_file(job_id: str, lab: TrainingDep) -> FileResponse:
    path = lab.model_path(lab.job(job_id))
    return FileResponse(path, media_type="application/octet-stream", filename=f"cnn-trained-{job_id}.npz")


@router.post("/api/train/{job_id}/use", response_model=UseResponse,
             responses=_errors(403, 404, 409, 422, 429, 503),
             summary="Switch the session to the trained network (POST /api/reset goes back to the pretrained one)")
async def use(job_id: str, state: SessionDep, net: NetworkDep, lab: TrainingDep) -> UseResponse:
    job = lab.job(job_id, state.id)
    return net.use_model(state, lab.model_path(job))


@router.get("/api/mnist/test/{index}", response_model=TestDigit, responses=_errors(404, 409, 422),
            summary="A digit of MNIST's test set, by index")
async def test_digit(index: int, lab: TrainingDep) -> TestDigit:
    return await asyncio.to_thread(lab.test_digit, index)  # the first call reads the test set from disk


@router.websocket("/ws/train/{job_id}")
async def stream(websocket: WebSocket, job_id: str) -> None:
    """Every message of the job, oldest first from ?since=, as JSON text; closes (1000) after the last one of a
    finished job, or with 4404 and {"type": "error"} for an unknown job. While it is open the job counts as watched."""
    lab: TrainingService = websocket.app.state.training
    await websocket.accept()
    raw = websocket.query_params.get("since", "0")
    sent = int(raw) if raw.isdigit() else 0
    try:
        while True:
            try:
                job = lab.job(job_id)  # marks it watched
            except JobNotFound as e:
                await websocket.send_json({"type": "error", "code": e.code, "message": e.message})
                await websocket.close(4404)
                return
            finished = job.finished
            messages = job.messages(sent) if job.message_count() > sent else []
            for message in messages:
                await websocket.send_json(message)
            sent += len(messages)
            if finished and sent >= job.message_count():
                await websocket.close(1000)
                return
            await asyncio.sleep(WS_POLL)
    except WebSocketDisconnect:
        return
