"""Training jobs: each in a worker process of its own, a bounded number at once, the rest queued in order.

    manager = JobManager(settings)             starts a thread that reads the workers' messages (app.training.worker)
    job = manager.submit(owner, config)        queued, or running at once if a worker is free
    manager.pause(job) / resume / stop         stop ends the process: it exits, or is terminated STOP_GRACE later
    manager.shutdown()                         stops every job, removes the temporary folder

Processes, not threads: a training step holds the GIL for most of its time, and the page's own passes must never wait
behind it. They are spawned (never forked: the server's threads and sockets stay out of them), each limited to one
BLAS thread, so CNN_TRAIN_WORKERS jobs use that many cores. The manager's thread applies every message to its job and
enforces the wall time, the idle time (nobody watching: the page was closed) and the end of stopped processes.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import queue
import secrets
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from app.config import Settings
from app.errors import JobConflict, JobNotFound, NotYourJob, Overloaded
from app.training.worker import JobConfig, run_job

log = logging.getLogger("cnn_visualizer")
State = Literal["queued", "running", "paused", "done", "failed", "stopped"]
FINISHED = ("done", "failed", "stopped")
STOP_GRACE = 3.0  # seconds a stopped process has to save its model and exit before it is terminated
POLL = 0.1


class JobView(Protocol):
    """What the service reads of a job, wherever it runs (a process of this server's, or an RQ worker)."""

    id: str
    owner: str
    summary: dict[str, Any]
    state: State
    epoch: int
    step: int
    total_steps: int | None
    test_accuracy: float | None
    error: str | None
    stop_reason: str | None
    checkpoints: list[dict[str, int]]

    @property
    def finished(self) -> bool: ...

    @property
    def model_path(self) -> Path | None: ...

    def checkpoint_path(self, k: int) -> Path: ...

    def messages(self, since: int = 0) -> list[dict[str, Any]]: ...

    def message_count(self) -> int: ...


class JobBackend(Protocol):
    """Where jobs run: JobManager (processes of this server) or app.training.rq_jobs (RQ workers, via Redis)."""

    def new_dir(self) -> tuple[str, Path]: ...

    def submit(self, job_id: str, owner: str, config: JobConfig, summary: dict[str, Any]) -> JobView: ...

    def get(self, job_id: str, owner: str | None = None) -> JobView: ...

    def queue_position(self, job: JobView) -> int | None: ...

    def pause(self, job: JobView) -> None: ...

    def resume(self, job: JobView) -> None: ...

    def stop(self, job: JobView, reason: str = ...) -> None: ...

    def shutdown(self) -> None: ...


@dataclass
class Job:
    id: str
    owner: str  # the session key that started it: only it controls the job
    config: JobConfig
    summary: dict[str, Any]  # what the request asked for, as the status shows it
    state: State = "queued"
    epoch: int = 0
    step: int = 0
    total_steps: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # every message, in order (the WebSocket's too)
    test_accuracy: float | None = None
    error: str | None = None
    checkpoints: list[dict[str, int]] = field(default_factory=list)  # {k, epoch, step}
    created: float = field(default_factory=time.monotonic)
    started: float | None = None
    last_seen: float = field(default_factory=time.monotonic)
    process: Any = None
    go: Any = None
    stop_flag: Any = None
    stop_reason: str | None = None
    stop_deadline: float | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def messages(self, since: int = 0) -> list[dict[str, Any]]:
        return self.history[since:]

    def message_count(self) -> int:
        return len(self.history)

    @property
    def dir(self) -> Path:
        return Path(self.config.out_dir)

    def checkpoint_path(self, k: int) -> Path:
        return self.dir / f"checkpoint-{k}.npz"

    @property
    def model_path(self) -> Path | None:
        """The trained model: model.npz at the end (or at a stop), else the last checkpoint, else None."""
        final = self.dir / "model.npz"
        if final.is_file():
            return final
        if self.checkpoints and self.finished:
            return self.checkpoint_path(self.checkpoints[-1]["k"])
        return None


class JobManager:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.ctx = mp.get_context("spawn")
        self.events: Any = self.ctx.Queue()
        self.jobs: dict[str, Job] = {}
        self.waiting: deque[str] = deque()
        self.by_owner: dict[str, str] = {}  # session key -> its latest job
        self.lock = threading.RLock()
        self._own_dir = settings.train_dir is None
        self.root = Path(tempfile.mkdtemp(prefix="cnn-train-")) if settings.train_dir is None else settings.train_dir
        self.root.mkdir(parents=True, exist_ok=True)
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name="training-jobs", daemon=True)
        self._thread.start()

    # Requests

    def new_dir(self) -> tuple[str, Path]:
        job_id = secrets.token_urlsafe(12)
        path = self.root / job_id
        path.mkdir()
        return job_id, path

    def submit(self, job_id: str, owner: str, config: JobConfig, summary: dict[str, Any]) -> Job:
        """Queue a job (checked already): JobConflict if the owner has one unfinished, Overloaded if the queue is
        full."""
        with self.lock:
            current = self.jobs.get(self.by_owner.get(owner, ""))
            if current is not None and not current.finished:
                raise JobConflict(f"this session has a training job {current.state} already ({current.id}): stop it "
                                  "first (POST /api/train/{id}/stop), one job per session")
            if len(self.waiting) >= self.settings.train_queue and self._running() >= self.settings.train_workers:
                raise Overloaded(f"{len(self.waiting)} training jobs are waiting already, as many as the server "
                                 f"queues (CNN_TRAIN_QUEUE={self.settings.train_queue}); try again later",
                                 retry_after=30)
            if current is not None:
                self._forget(current)
            job = Job(job_id, owner, config, summary)
            self.jobs[job_id] = job
            self.by_owner[owner] = job_id
            self.waiting.append(job_id)
            self._schedule()
            return job

    def get(self, job_id: str, owner: str | None = None) -> Job:
        """The job, marked as watched; with `owner`, NotYourJob unless that session started it."""
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None:
                raise JobNotFound(f"no training job {job_id!r}: it never existed, was replaced by a newer job of its "
                                  "session, or the server restarted")
            if owner is not None and job.owner != owner:
                raise NotYourJob("this training job belongs to another session: only the page that started it "
                                 "can control it")
            job.last_seen = time.monotonic()
            return job

    def _own(self, view: JobView) -> Job:
        job = self.jobs.get(view.id)
        if job is None:
            raise JobNotFound(f"no training job {view.id!r}: it was replaced by a newer job of its session")
        return job

    def queue_position(self, job: JobView) -> int | None:
        """1 for the next job to start; None unless queued."""
        with self.lock:
            return self.waiting.index(job.id) + 1 if job.id in self.waiting else None

    def pause(self, view: JobView) -> None:
        with self.lock:
            job = self._own(view)
            if job.state != "running":
                raise JobConflict(f"only a running job can be paused; this one is {job.state}")
            job.go.clear()
            self._set(job, "paused", {"type": "paused"})

    def resume(self, view: JobView) -> None:
        with self.lock:
            job = self._own(view)
            if job.state != "paused":
                raise JobConflict(f"only a paused job can be resumed; this one is {job.state}")
            job.go.set()
            self._set(job, "running", {"type": "resumed"})

    def stop(self, view: JobView, reason: str = "stopped on request") -> None:
        """End the job: a queued one never starts; a running one saves its model and exits, or is terminated."""
        with self.lock:
            job = self._own(view)
            if job.finished:
                return
            if job.state == "queued":
                self.waiting.remove(job.id)
                job.stop_reason = reason
                self._set(job, "stopped", {"type": "stopped", "reason": reason})
                return
            if job.stop_reason is None:
                job.stop_reason = reason
                job.stop_deadline = time.monotonic() + STOP_GRACE
                job.stop_flag.set()
                job.go.set()  # a paused job must wake to see it

    def shutdown(self) -> None:
        """Stop everything now: every process is terminated and joined; the temporary folder goes."""
        self._closing.set()
        self._thread.join(timeout=5)
        with self.lock:
            for job in self.jobs.values():
                if job.process is not None and job.process.is_alive():
                    job.process.terminate()
            for job in self.jobs.values():
                if job.process is not None:
                    job.process.join(timeout=5)
                    if job.process.is_alive():
                        job.process.kill()
                        job.process.join()
            self.waiting.clear()
        self.events.close()
        self.events.join_thread()
        if self._own_dir:
            shutil.rmtree(self.root, ignore_errors=True)

    # The manager's thread

    def _running(self) -> int:
        return sum(1 for j in self.jobs.values() if j.state in ("running", "paused") or
                   (j.process is not None and j.process.is_alive()))

    def _schedule(self) -> None:
        while self.waiting and self._running() < self.settings.train_workers:
            job = self.jobs[self.waiting.popleft()]
            job.go, job.stop_flag = self.ctx.Event(), self.ctx.Event()
            job.go.set()
            process = self.ctx.Process(target=run_job, args=(job.id, job.config, self.events, job.go, job.stop_flag),
                                       name=f"train-{job.id}", daemon=True)
            try:
                process.start()
            except (OSError, RuntimeError) as e:  # out of processes or memory: this job fails, the server goes on
                log.exception("cannot start training job %s", job.id)
                job.error = f"the training process could not start: {e}"
                self._set(job, "failed", {"type": "failed", "error": job.error})
                continue
            job.process = process
            job.started = time.monotonic()
            self._set(job, "running", {"type": "running"})

    def _set(self, job: Job, state: State, message: dict[str, Any] | None = None) -> None:
        job.state = state
        if message is not None:
            self._record(job, message)

    def _record(self, job: Job, message: dict[str, Any]) -> None:
        message = {k: v for k, v in message.items() if k not in ("job", "trace")}
        with job.changed:
            job.history.append(message)
            job.changed.notify_all()

    def _apply(self, message: dict[str, Any]) -> None:
        job = self.jobs.get(message.get("job", ""))
        if job is None or job.finished:
            return
        kind = message["type"]
        if "epoch" in message:
            job.epoch = message["epoch"]
        if "step" in message:
            job.step = message["step"]
        if kind == "started":
            job.total_steps = message["total_steps"]
        if kind == "checkpoint":
            job.checkpoints.append({"k": message["k"], "epoch": message["epoch"], "step": message["step"]})
        if kind == "done":
            job.test_accuracy = message["test_accuracy"]
            self._set(job, "done", message)
        elif kind == "failed":
            if message.get("trace"):
                log.warning("training job %s failed:\n%s", job.id, message["trace"])
            job.error = message["error"]
            self._set(job, "failed", message)
        elif kind == "stopped":
            reason = job.stop_reason or message.get("reason", "stopped")
            self._set(job, "stopped", {**message, "reason": reason})
        else:
            self._record(job, message)

    def _check(self, now: float) -> None:
        for job in list(self.jobs.values()):
            proc = job.process
            if job.state in ("running", "paused"):
                assert job.started is not None
                if now - job.started > self.settings.train_max_seconds:
                    self.stop(job, f"the wall-time limit of {self.settings.train_max_seconds:g} s was reached "
                                   "(CNN_TRAIN_MAX_SECONDS)")
                elif now - job.last_seen > self.settings.train_idle_seconds:
                    self.stop(job, f"nobody watched it for {self.settings.train_idle_seconds:g} s: the page was "
                                   "closed (CNN_TRAIN_IDLE_SECONDS)")
            elif job.state == "queued" and now - job.last_seen > self.settings.train_idle_seconds:
                self.stop(job, "nobody watched it while it waited: the page was closed")
            elif job.finished and job.process is None and now - job.last_seen > self.settings.session_idle_seconds:
                self._forget(job)  # its session is gone by now too (CNN_SESSION_IDLE_SECONDS)
                continue
            if proc is None:
                continue
            if job.stop_deadline is not None and now > job.stop_deadline and proc.is_alive():
                proc.terminate()
            if not proc.is_alive():
                proc.join()
                job.process = None
                # A process that exited has flushed its queue: read what it said last before judging how it ended.
                self._drain()
                if not job.finished:  # it ended without its last message: killed, out of memory, or terminated
                    if job.stop_reason is not None:
                        self._set(job, "stopped", {"type": "stopped", "reason": job.stop_reason})
                    else:
                        job.error = f"the training process ended unexpectedly (exit code {proc.exitcode})"
                        self._set(job, "failed", {"type": "failed", "error": job.error})

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                message = self.events.get(timeout=POLL)
            except queue.Empty:
                message = None
            except (EOFError, OSError):
                break
            with self.lock:
                if message is not None:
                    self._apply(message)
                    self._drain()  # a burst of messages is applied before the checks
                self._check(time.monotonic())
                self._schedule()

    def _drain(self) -> None:
        while True:
            try:
                self._apply(self.events.get_nowait())
            except queue.Empty:
                return

    def _forget(self, job: Job) -> None:
        """A finished job replaced by its session's next one, or unseen as long as an idle session lasts: its files
        go."""
        self.jobs.pop(job.id, None)
        if self.by_owner.get(job.owner) == job.id:
            del self.by_owner[job.owner]
        shutil.rmtree(job.dir, ignore_errors=True)
