"""Training jobs through Redis and RQ, for servers whose sessions live in Redis (CNN_SESSION_STORE=redis://…).

Several server processes (replicas, `--workers N`) serve one learner, so a job cannot live in one of them: its state,
its messages and its files live in Redis, and it runs in an RQ worker, on this machine or any other that reaches
Redis and holds MNIST:

    cnn-train-worker [--url redis://host:port/db]       one job at a time; start as many as jobs may run at once

RQ, rather than Celery or Dramatiq: it needs nothing but the Redis the sessions already use, its worker forks a fresh
process per job (a job's memory goes back when it ends), and its queue is a Redis list whose order gives a job its
place. Keys, each expiring CNN_SESSION_IDLE_SECONDS after the job was last watched (or ended):

    cnn:train:<id>:meta      hash: owner, summary, state, epoch, step, total_steps, test_accuracy, error, stop_reason,
                             last_seen
    cnn:train:<id>:events    list: the job's messages, JSON (app.training.worker describes them)
    cnn:train:<id>:ckpts     list: {k, epoch, step} of each checkpoint, JSON
    cnn:train:<id>:files     hash: "checkpoint-<k>" and "model" -> the .npz bytes
    cnn:train:<id>:control   "run" | "pause" | "stop"
    cnn:train:owner:<key>    the session's latest job

The server writes control; the worker reads it between steps (at most every CONTROL_POLL seconds) with last_seen, and
stops by itself at the wall-time limit or when nobody watched the job for CNN_TRAIN_IDLE_SECONDS. RQ's own job
timeout (the wall time plus a minute) ends a worker that stops answering.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import redis
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob

from app.config import Settings
from app.errors import AppError, JobConflict, JobNotFound, NotYourJob, Overloaded
from app.training.jobs import FINISHED, State
from app.training.worker import JobConfig, run_job

QUEUE = "cnn-train"
CONTROL_POLL = 0.2  # seconds between the worker's looks at its control key
PREFIX = "cnn:train:"


class NoTrainingWorkers(AppError):
    """Jobs go through Redis, and no worker takes them."""

    status_code, code = 503, "no_training_workers"


def _key(job_id: str, part: str) -> str:
    return f"{PREFIX}{job_id}:{part}"


def _parts(job_id: str) -> list[str]:
    return [_key(job_id, p) for p in ("meta", "events", "ckpts", "files", "control")]


class RedisJobView:
    """A job as Redis holds it when it was read; its files are fetched into `cache` when asked for."""

    def __init__(self, job_id: str, meta: dict[str, str], r: redis.Redis, cache: Path) -> None:
        self.id, self._r, self._cache = job_id, r, cache / job_id
        self.owner = meta["owner"]
        self.summary: dict[str, Any] = json.loads(meta["summary"])
        self.state: State = meta["state"]  # type: ignore[assignment]
        self.epoch, self.step = int(meta.get("epoch", 0)), int(meta.get("step", 0))
        self.total_steps = int(meta["total_steps"]) if meta.get("total_steps") else None
        self.test_accuracy = float(meta["test_accuracy"]) if meta.get("test_accuracy") else None
        self.error = meta.get("error") or None
        self.stop_reason = meta.get("stop_reason") or None
        self.checkpoints: list[dict[str, int]] = [json.loads(c) for c in r.lrange(_key(job_id, "ckpts"), 0, -1)]

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    def _file(self, name: str) -> Path | None:
        path = self._cache / f"{name}.npz"
        if not path.is_file():  # files never change once written: fetched once
            data = self._r.hget(_key(self.id, "files"), name)
            if data is None:
                return None
            self._cache.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + f".{secrets.token_hex(4)}.tmp")
            tmp.write_bytes(data)  # type: ignore[arg-type]
            tmp.replace(path)
        return path

    @property
    def model_path(self) -> Path | None:
        final = self._file("model")
        if final is not None:
            return final
        if self.checkpoints and self.finished:
            return self.checkpoint_path(self.checkpoints[-1]["k"])
        return None

    def checkpoint_path(self, k: int) -> Path:
        path = self._file(f"checkpoint-{k}")
        if path is None:
            raise JobNotFound(f"checkpoint {k} of this job is gone from Redis")
        return path

    def messages(self, since: int = 0) -> list[dict[str, Any]]:
        return [json.loads(m) for m in self._r.lrange(_key(self.id, "events"), since, -1)]

    def message_count(self) -> int:
        return int(self._r.llen(_key(self.id, "events")))


class RedisJobs:
    """The JobBackend of a server whose sessions live in Redis: jobs queued with RQ, run by cnn-train-worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.r = redis.Redis.from_url(settings.session_store)
        self.queue = Queue(QUEUE, connection=self.r)
        self.root = Path(tempfile.mkdtemp(prefix="cnn-train-cache-"))  # files fetched from Redis, by job

    def new_dir(self) -> tuple[str, Path]:
        job_id = secrets.token_urlsafe(12)
        return job_id, self.root / job_id  # the worker keeps its files in a folder of its own

    def _meta(self, job_id: str) -> dict[str, str]:
        raw = self.r.hgetall(_key(job_id, "meta"))
        return {k.decode(): v.decode() for k, v in raw.items()}  # type: ignore[union-attr]

    def submit(self, job_id: str, owner: str, config: JobConfig, summary: dict[str, Any]) -> RedisJobView:
        s = self.settings
        current = self.r.get(f"{PREFIX}owner:{owner}")
        if current is not None:
            meta = self._meta(current.decode())  # type: ignore[union-attr]
            if meta and meta["state"] not in FINISHED:
                raise JobConflict(f"this session has a training job {meta['state']} already "
                                  f"({current.decode()}): stop it first (POST /api/train/{{id}}/stop), one job per "  # type: ignore[union-attr]
                                  "session")
        if Worker.count(queue=self.queue) == 0:
            raise NoTrainingWorkers("no training worker is running: start one or more with `cnn-train-worker --url "
                                    "<the CNN_SESSION_STORE URL>` on a machine that holds MNIST, then try again")
        if len(self.queue) >= s.train_queue:
            raise Overloaded(f"{len(self.queue)} training jobs are waiting already, as many as the server queues "
                             f"(CNN_TRAIN_QUEUE={s.train_queue}); try again later", retry_after=30)
        ttl = int(s.session_idle_seconds + s.train_max_seconds)
        fields: dict[str, Any] = {"owner": owner, "summary": json.dumps(summary), "state": "queued", "epoch": 0,
                                  "step": 0, "last_seen": time.time()}
        with self.r.pipeline() as p:
            p.hset(_key(job_id, "meta"), mapping=fields)  # type: ignore[arg-type]
            p.set(_key(job_id, "control"), "run")
            p.set(f"{PREFIX}owner:{owner}", job_id, ex=ttl)
            for key in _parts(job_id):
                p.expire(key, ttl)
            p.execute()
        limits = {"max_seconds": s.train_max_seconds, "idle_seconds": s.train_idle_seconds,
                  "keep_seconds": s.session_idle_seconds}
        self.queue.enqueue_call(run_rq_job, args=(job_id, config, limits), job_id=job_id,
                                timeout=int(s.train_max_seconds) + 60, result_ttl=0, failure_ttl=ttl)
        return self.get(job_id)

    def get(self, job_id: str, owner: str | None = None) -> RedisJobView:
        meta = self._meta(job_id)
        if not meta:
            raise JobNotFound(f"no training job {job_id!r}: it never existed, was replaced by a newer job of its "
                              "session, or has expired")
        if owner is not None and meta["owner"] != owner:
            raise NotYourJob("this training job belongs to another session: only the page that started it can "
                             "control it")
        keep = int(self.settings.session_idle_seconds + (0 if meta["state"] in FINISHED
                                                          else self.settings.train_max_seconds))
        with self.r.pipeline() as p:
            p.hset(_key(job_id, "meta"), "last_seen", time.time())
            for key in _parts(job_id):
                p.expire(key, keep)
            p.execute()
        if meta["state"] in ("running", "paused") and self._worker_gone(job_id):
            error = "the training worker ended without finishing the job (killed, out of memory, or over its timeout)"
            self._end(job_id, "failed", {"type": "failed", "error": error}, error=error)
            meta = self._meta(job_id)
        return RedisJobView(job_id, meta, self.r, self.root)

    def _worker_gone(self, job_id: str) -> bool:
        try:
            status = RQJob.fetch(job_id, connection=self.r).get_status()
        except NoSuchJobError:
            return False  # finished (result_ttl=0 deletes it): its own last message says how it ended
        return status in ("failed", "stopped", "canceled")

    def _end(self, job_id: str, state: str, message: dict[str, Any], **fields: str) -> None:
        with self.r.pipeline() as p:
            p.hset(_key(job_id, "meta"), mapping={"state": state, **fields})  # type: ignore[dict-item]
            p.rpush(_key(job_id, "events"), json.dumps(message))
            p.execute()

    def queue_position(self, job: Any) -> int | None:
        if job.state != "queued":
            return None
        position = self.queue.get_job_position(job.id)
        return position + 1 if position is not None else None

    def pause(self, job: Any) -> None:
        if job.state != "running":
            raise JobConflict(f"only a running job can be paused; this one is {job.state}")
        self.r.set(_key(job.id, "control"), "pause", keepttl=True)
        self._end(job.id, "paused", {"type": "paused"})
        job.state = "paused"

    def resume(self, job: Any) -> None:
        if job.state != "paused":
            raise JobConflict(f"only a paused job can be resumed; this one is {job.state}")
        self.r.set(_key(job.id, "control"), "run", keepttl=True)
        self._end(job.id, "running", {"type": "resumed"})
        job.state = "running"

    def stop(self, job: Any, reason: str = "stopped on request") -> None:
        if job.finished:
            return
        if job.state == "queued":
            try:
                RQJob.fetch(job.id, connection=self.r).cancel()
            except NoSuchJobError:
                pass
        self.r.hsetnx(_key(job.id, "meta"), "stop_reason", reason)
        self.r.set(_key(job.id, "control"), "stop", keepttl=True)
        if job.state == "queued":  # a worker that takes it anyway sees "stop" first
            self._end(job.id, "stopped", {"type": "stopped", "reason": reason})
            job.state = "stopped"
        job.stop_reason = job.stop_reason or reason

    def shutdown(self) -> None:
        """Jobs go on in their workers (another replica may be watching them); only this process's cache goes."""
        self.r.close()
        shutil.rmtree(self.root, ignore_errors=True)


# The worker's side: the RQ job


class _Control:
    """The job's control key and last_seen as app.training.worker's `go` and `stop`, read at most every CONTROL_POLL
    seconds; the wall-time limit and the idle limit stop it too, with their reason."""

    def __init__(self, r: redis.Redis, job_id: str, limits: dict[str, float]) -> None:
        self.r, self.job_id, self.limits = r, job_id, limits
        self.deadline = time.monotonic() + limits["max_seconds"]
        self.reason = ""
        self._read_at, self._control = 0.0, "run"

    def _read(self) -> str:
        now = time.monotonic()
        if now - self._read_at >= CONTROL_POLL:
            last_seen, reason = self.r.hmget(_key(self.job_id, "meta"), "last_seen", "stop_reason")
            value = self.r.get(_key(self.job_id, "control"))
            self._control = value.decode() if value else "stop"  # type: ignore[union-attr]
            self._read_at = now
            if self._control == "stop":
                self.reason = reason.decode() if reason else "stopped on request"  # type: ignore[union-attr]
            elif now > self.deadline:
                self._stop(f"the wall-time limit of {self.limits['max_seconds']:g} s was reached "
                           "(CNN_TRAIN_MAX_SECONDS)")
            elif last_seen and time.time() - float(last_seen) > self.limits["idle_seconds"]:
                self._stop(f"nobody watched it for {self.limits['idle_seconds']:g} s: the page was closed "
                           "(CNN_TRAIN_IDLE_SECONDS)")
        return self._control

    def _stop(self, reason: str) -> None:
        self.r.hsetnx(_key(self.job_id, "meta"), "stop_reason", reason)
        self._control, self.reason = "stop", reason

    def wait(self, timeout: float) -> bool:
        """`go`: True unless paused (then after `timeout`)."""
        if self._read() == "pause":
            time.sleep(timeout)
            return False
        return True

    def is_set(self) -> bool:
        """`stop`."""
        return self._read() == "stop"


def run_rq_job(job_id: str, config: JobConfig, limits: dict[str, float]) -> None:
    """The RQ job: app.training.worker's run_job with Redis for its queue, its control and its files."""
    from rq import get_current_job

    current = get_current_job()
    assert current is not None
    r: redis.Redis = current.connection
    control = _Control(r, job_id, limits)
    keep = int(limits["keep_seconds"])
    if control.is_set() or not r.exists(_key(job_id, "meta")):  # stopped (or gone) while it waited
        return
    out = Path(tempfile.mkdtemp(prefix=f"cnn-train-{job_id}-"))
    from cnn.data import resolve_data_dir

    local = replace(config, out_dir=str(out), data_dir=str(resolve_data_dir(None)))  # this machine's MNIST

    class Events:
        """The worker's messages: each stored, with what it changes in the job's state, and its files uploaded."""

        def put(self, message: dict[str, Any]) -> None:
            message = {k: v for k, v in message.items() if k not in ("job", "trace")}
            kind, fields = message["type"], dict[str, Any]()
            for name in ("epoch", "step", "total_steps", "test_accuracy"):
                if name in message:
                    fields[name] = message[name]
            with r.pipeline() as p:
                if kind == "checkpoint":
                    p.hset(_key(job_id, "files"), f"checkpoint-{message['k']}",
                           (out / f"checkpoint-{message['k']}.npz").read_bytes())
                    p.rpush(_key(job_id, "ckpts"), json.dumps({k: message[k] for k in ("k", "epoch", "step")}))
                if kind in ("done", "stopped") and (out / "model.npz").is_file():
                    p.hset(_key(job_id, "files"), "model", (out / "model.npz").read_bytes())
                if kind == "done":
                    fields["state"] = "done"
                elif kind == "failed":
                    fields |= {"state": "failed", "error": message["error"]}
                elif kind == "stopped":
                    message["reason"] = control.reason or message.get("reason", "stopped")
                    fields |= {"state": "stopped", "stop_reason": message["reason"]}
                if fields:
                    p.hset(_key(job_id, "meta"), mapping=fields)  # type: ignore[arg-type]
                p.rpush(_key(job_id, "events"), json.dumps(message))
                if kind in FINISHED:
                    for key in _parts(job_id):
                        p.expire(key, keep)
                p.execute()

    with r.pipeline() as p:
        p.hset(_key(job_id, "meta"), "state", "running")
        p.rpush(_key(job_id, "events"), json.dumps({"type": "running"}))
        p.execute()
    try:
        run_job(job_id, local, Events(), control, control)
    finally:
        shutil.rmtree(out, ignore_errors=True)
