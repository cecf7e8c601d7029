"""The training lab's service: spec checks and presets for the editor, training jobs (app.training.jobs) checked
against the server's limits, and what a finished job gives (checkpoints, the model). Nothing here knows HTTP."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path
from typing import Any

import numpy as np

from app.config import Settings
from app.errors import InvalidRequest, InvalidSpec, JobConflict, TrainingDataMissing, TrainLimit, UnknownName
from app.training.jobs import JobBackend, JobManager, JobView
from app.training.presets import PRESETS
from app.training.schemas import (
    CheckpointInfo,
    CheckpointKernels,
    LayerCheckRow,
    Preset,
    PresetsResponse,
    SpecCheckResponse,
    TestDigit,
    TrainRequest,
    TrainStarted,
    TrainStatus,
)
from app.training.speccheck import check_spec
from app.training.worker import VAL_SIZE, JobConfig, first_conv
from cnn.data import MNIST_FILES, load_mnist, resolve_data_dir
from cnn.errors import DataError
from cnn.modelfile import load_model
from cnn.spec import normalize_spec, summary

DEFAULT_LR = {"sgd": 0.05, "adam": 0.001}


class TrainingService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._manager: JobBackend | None = None
        self._lock = threading.Lock()
        self._test_set: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def manager(self) -> JobBackend:
        """Made at the first job, so that a server nobody trains on starts no thread and no folder: this server's
        own processes, or with sessions in Redis, RQ workers (app.training.rq_jobs)."""
        with self._lock:
            if self._manager is None:
                if self.settings.session_store == "memory":
                    self._manager = JobManager(self.settings)
                else:
                    from app.training.rq_jobs import RedisJobs

                    self._manager = RedisJobs(self.settings)
            return self._manager

    def shutdown(self) -> None:
        with self._lock:
            if self._manager is not None:
                self._manager.shutdown()
                self._manager = None

    # The editor

    def check(self, spec: Any) -> SpecCheckResponse:
        result = check_spec(spec)
        errors = list(result.errors)
        if result.total_params is not None and result.total_params > self.settings.train_max_params:
            errors.append(self._params_message(result.total_params))
        return SpecCheckResponse(
            ok=not errors, errors=errors, total_params=result.total_params, max_params=self.settings.train_max_params,
            layers=[LayerCheckRow(index=r.index, name=r.name, type=r.type, output_shape=r.output_shape,
                                  params=r.params, error=r.error,
                                  checked=not (r.error or "").startswith("not checked"))
                    for r in result.layers])

    def _params_message(self, params: int) -> str:
        return (f"the network has {params:,} parameters, more than the limit of {self.settings.train_max_params:,} "
                "(CNN_TRAIN_MAX_PARAMS)")

    @staticmethod
    def presets() -> PresetsResponse:
        return PresetsResponse(presets=[
            Preset(name=name, description=text, spec=make(), total_params=summary(make()).total_params)
            for name, (text, make) in PRESETS.items()
        ])

    # Starting a job

    def data_dir(self) -> Path:
        """The MNIST folder, or TrainingDataMissing saying how to get the files."""
        folder = resolve_data_dir(self.settings.data_dir)
        missing = [f.filename for f in MNIST_FILES.values()
                   if not any((folder / name).is_file() for name in (f.filename, f.filename.removesuffix(".gz")))]
        if missing:
            raise TrainingDataMissing(
                f"training needs MNIST, and {folder} lacks {', '.join(missing)}. Run `cnn-data download --data "
                f"{folder}` on the server (or set CNN_DATA_DIR to a folder that holds the files) and try again; "
                "everything else works without them")
        return folder

    def resolve_spec(self, spec: dict[str, Any] | str) -> dict[str, Any]:
        """A preset's name or a spec -> the normalised spec, in float32 (training's type), or InvalidSpec with every
        problem the editor would show."""
        if isinstance(spec, str):
            if spec not in PRESETS:
                raise InvalidSpec(f"no preset {spec!r}; the presets are {', '.join(PRESETS)}, or send a spec object")
            spec = dict(PRESETS[spec][1]())
        assert isinstance(spec, dict)
        result = check_spec(spec)
        if result.errors:
            raise InvalidSpec("the spec cannot be trained: " + "; ".join(result.errors))
        normalized = normalize_spec({**spec, "input_shape": spec.get("input_shape", [1, 28, 28]), "dtype": "float32"})
        params = summary(normalized).total_params
        if params > self.settings.train_max_params:
            raise TrainLimit(self._params_message(params))
        return normalized

    def start(self, owner: str, request: TrainRequest) -> TrainStarted:
        s = self.settings
        if request.epochs > s.train_max_epochs:
            raise TrainLimit(f"epochs {request.epochs} is more than the limit of {s.train_max_epochs} "
                             "(CNN_TRAIN_MAX_EPOCHS)")
        if request.train_size > s.train_max_train_size:
            raise TrainLimit(f"train_size {request.train_size:,} is more than the limit of {s.train_max_train_size:,} "
                             f"(CNN_TRAIN_MAX_TRAIN_SIZE; MNIST has 60,000 training images, {VAL_SIZE:,} of them held "
                             "out for validation)")
        if request.train_size < request.batch_size:
            raise InvalidRequest(f"train_size {request.train_size} is less than one batch of {request.batch_size}: "
                                 "raise train_size or lower batch_size")
        if request.lr is not None and request.lr > s.max_learning_rate:
            raise TrainLimit(f"lr {request.lr:g} is more than the limit of {s.max_learning_rate:g} "
                             "(CNN_MAX_LEARNING_RATE)")
        spec = self.resolve_spec(request.spec)
        # With RQ, the worker that takes the job reads its own machine's MNIST, and says so if it has none.
        folder = self.data_dir() if self.settings.session_store == "memory" else Path()
        lr = float(request.lr) if request.lr is not None else DEFAULT_LR[request.optimizer]
        manager = self.manager
        job_id, out = manager.new_dir()
        config = JobConfig(spec=spec, epochs=request.epochs, batch_size=request.batch_size, lr=lr,
                           momentum=float(request.momentum), optimizer=request.optimizer,
                           train_size=request.train_size, augment=request.augment, seed=request.seed,
                           data_dir=str(folder), out_dir=str(out))
        asked = {**request.model_dump(), "spec": spec, "lr": lr}
        try:
            job = manager.submit(job_id, owner, config, asked)
        except Exception:
            shutil.rmtree(out, ignore_errors=True)
            raise
        return TrainStarted(id=job.id, state="queued" if job.state == "queued" else "running",
                            queue_position=manager.queue_position(job))

    # A job

    def job(self, job_id: str, owner: str | None = None) -> JobView:
        return self.manager.get(job_id, owner)

    def status(self, job: JobView, since: int | None = 0) -> TrainStatus:
        """The job's state, and its messages from `since` on (None: none, only the count)."""
        count = job.message_count()
        return TrainStatus(
            id=job.id, state=job.state, epoch=job.epoch, step=job.step, total_steps=job.total_steps,
            queue_position=self.manager.queue_position(job), test_accuracy=job.test_accuracy,
            error=job.error or job.stop_reason, request=job.summary,
            checkpoints=[CheckpointInfo(**c) for c in job.checkpoints],
            history=job.messages(since) if since is not None and since < count else [], history_length=count)

    def pause(self, job: JobView) -> TrainStatus:
        self.manager.pause(job)
        return self.status(job, None)

    def resume(self, job: JobView) -> TrainStatus:
        self.manager.resume(job)
        return self.status(job, None)

    def stop(self, job: JobView) -> TrainStatus:
        self.manager.stop(job)
        return self.status(job, None)

    def checkpoint_kernels(self, job: JobView, k: int) -> CheckpointKernels:
        known = {c["k"]: c for c in job.checkpoints}
        if k not in known:
            have = f"0 to {len(known) - 1}" if known else "none yet"
            raise UnknownName(f"no checkpoint {k} of this job; its checkpoints are {have}")
        model = load_model(job.checkpoint_path(k))
        conv = first_conv(model)
        return CheckpointKernels(k=k, epoch=known[k]["epoch"], step=known[k]["step"],
                                 layer=model.names[conv] if conv is not None else None,
                                 kernels=model.layers[conv].params["W"] if conv is not None else None)

    def model_path(self, job: JobView) -> Path:
        path = job.model_path
        if path is None:
            raise JobConflict(f"this job has no model yet (it is {job.state}): wait until it is done, or stop it")
        return path

    # MNIST's test digits (the misclassified browser)

    def test_digit(self, index: int) -> TestDigit:
        if self._test_set is None:
            try:
                self._test_set = load_mnist("test", self.data_dir())
            except DataError as e:
                raise TrainingDataMissing(str(e)) from None
        images, labels = self._test_set
        if not 0 <= index < len(images):
            raise UnknownName(f"no test digit {index}: the test set has {len(images):,}, from 0 to {len(images) - 1}")
        return TestDigit(index=index, label=int(labels[index]), image=images[index])
