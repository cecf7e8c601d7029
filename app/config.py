"""Settings, all in one place: environment variables with the prefix CNN_, validated when the server starts.

    CNN_MODEL_PATH            model file to serve (.npz from cnn-train); default: the pretrained LeNet-5
    CNN_MAX_UPLOAD_BYTES      largest accepted image, in bytes (default 5 MiB)
    CNN_MAX_MODEL_BYTES       largest model file a learner may upload (POST /api/model: .onnx or .npz; default 20 MiB)
    CNN_MAX_IMAGE_PIXELS      largest accepted width × height (default 4096 × 4096), against decompression bombs
    CNN_MAX_JSON_BYTES        largest JSON body of every route but the forward (default 16384); the forward's
                              limit is CNN_MAX_UPLOAD_BYTES as a data URL plus 64 KiB
    CNN_SESSION_MEMORY_MB     memory the sessions may hold (weights of those that stepped, inputs, images); over it,
                              sessions idle for CNN_SESSION_EVICTABLE_SECONDS go, least recently used first (640)
    CNN_SESSION_EVICTABLE_SECONDS  how long a session must be idle before memory pressure may evict it (default 120)
    CNN_SESSION_SECRET        the key that signs session cookies; default: with the Redis store, one random key kept in
                              Redis and shared by every process using it; with the memory store, a new random one at
                              every start
    CNN_SESSION_IDLE_SECONDS  a session unused this long is dropped (default 1800)
    CNN_SESSION_STORE         where sessions live: "memory" (default: this process, within CNN_SESSION_MEMORY_MB) or
                              a Redis URL, redis://host:port/db, shared by every process pointed at it
    CNN_MAX_LEARNING_RATE     the largest learning rate a step accepts (default 10)
    CNN_WARM_PASSES           sessions whose last pass is kept ready in memory, so backward and step reuse it
                              instead of running forward again (default 64)
    CNN_TRUST_PROXY_HEADERS   true behind an HTTPS proxy that sets X-Forwarded-Proto/For (default false: such headers
                              change nothing, whoever sends them)
    CNN_ENGINE_WORKERS        expensive jobs (gradcheck, export, image decoding) running at once (default 1: a
                              gradcheck holds the GIL, so more threads only fight over it: benchmarks/flood.py)
    CNN_ENGINE_QUEUE          expensive jobs waiting for a worker; one more is answered 503 at once (default 16)
    CNN_DATA_DIR              the MNIST folder the training lab reads (the CLI's rule: unset, the per-user cache
                              ~/.cache/cnn-visualizer/mnist); without the files the lab says to run `cnn-data download`
    CNN_TRAIN_WORKERS         training jobs running at once, each in a process of its own (default: cores − 1, at
                              least 1); further jobs wait in a queue and are told their place. With the Redis session
                              store, jobs go through RQ instead and run in `cnn-train-worker` processes (as many run at
                              once as there are of them), started on any machine that reaches the Redis
    CNN_TRAIN_QUEUE           training jobs that may wait; one more is answered 503 (default 16)
    CNN_TRAIN_MAX_PARAMS      the most parameters a network trained in the lab may have (default 1,000,000)
    CNN_TRAIN_MAX_EPOCHS      the most epochs a training job may ask for (default 20)
    CNN_TRAIN_MAX_TRAIN_SIZE  the most training images a job may ask for (default 58,000: MNIST's 60,000 less the
                              2,000 held out for validation)
    CNN_TRAIN_MAX_SECONDS     wall time after which a training job is stopped, queueing not counted (default 1800)
    CNN_TRAIN_IDLE_SECONDS    a job that nobody has watched (its WebSocket or GET) for this long is stopped, so a
                              closed page leaves nothing running (default 120)
    CNN_TRAIN_DIR             where jobs keep their checkpoints and models (default: a temporary folder, removed when
                              the server stops)
    CNN_CLASS_MAX_STUDENTS    the most students a class may have; one more is told the class is full (default 60)
    CNN_CLASS_MAX_CLASSES     the most classes held at once, by this process with the memory store, by every process on
                              the Redis (CNN_SESSION_STORE) otherwise; one more is answered 503 (default 100)
    CNN_CLASS_TTL_SECONDS     a class nobody was active in for this long expires (default 14400: 4 hours); its students
                              and drawings go with it
    CNN_CLASS_DRAWINGS_PER_SECOND  drawings a student's socket may send a second; more are dropped (default 5)

A value that makes no sense (a negative limit, NaN, a word where a number belongs) stops the server at start-up with
a message naming the variable, never later in the middle of a request.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import redis
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cnn.pretrained import PRETRAINED_PATH


class Settings(BaseSettings):
    # env_ignore_empty: CNN_X= (as compose passes a variable the operator left unset) means the default.
    model_config = SettingsConfigDict(env_prefix="CNN_", frozen=True, extra="ignore", env_ignore_empty=True)

    model_path: Path = Field(default=PRETRAINED_PATH, description="The model file to serve.")
    max_upload_bytes: int = Field(default=5 * 1024 * 1024, gt=0, description="Largest accepted image, in bytes.")
    max_model_bytes: int = Field(default=20 * 1024 * 1024, gt=0, description="Largest model file a learner may upload, "
                                 "in bytes.")
    max_image_pixels: int = Field(default=4096 * 4096, gt=0, description="Largest accepted width × height.")
    max_json_bytes: int = Field(default=16384, ge=1024, description="Largest request body of every route but the "
                                "forward, in bytes.")
    session_memory_mb: int = Field(default=640, gt=0, description="Memory the sessions may hold, in MB.")
    session_evictable_seconds: int = Field(default=120, ge=0, description="Idle time before memory pressure may "
                                           "evict a session.")
    session_secret: str | None = Field(default=None, min_length=16, repr=False,
                                       description="The key that signs session cookies (default: shared through the "
                                       "Redis store, or random at every start with the memory store).")
    session_idle_seconds: int = Field(default=1800, gt=0, description="A session unused this long is dropped.")
    session_store: str = Field(default="memory", description="Where sessions live: 'memory' or a Redis URL "
                               "(redis://host:port/db).")
    max_learning_rate: float = Field(default=10.0, gt=0, allow_inf_nan=False,
                                     description="The largest learning rate a step accepts.")
    warm_passes: int = Field(default=64, ge=0, description="Sessions whose last pass is kept ready in memory.")
    cookie_name: str = Field(default="cnn_session", min_length=1, description="The session cookie's name.")
    trust_proxy_headers: bool = Field(
        default=False,
        description="Honour X-Forwarded-Proto and X-Forwarded-For from whoever connects (the HTTPS proxy in front), "
                    "so request.url.scheme is the browser's. Only when nothing but the proxy reaches the server.")
    engine_workers: int = Field(default=1, gt=0,
                                description="Expensive jobs (gradcheck, export, image decoding) run at once.")
    engine_queue: int = Field(default=16, ge=0, description="Expensive jobs that may wait for a worker; beyond "
                              "that the server answers 503 with Retry-After at once.")

    data_dir: Path | None = Field(default=None, description="The MNIST folder (default: the per-user cache).")
    train_workers: int = Field(default_factory=lambda: max(1, (os.cpu_count() or 1) - 1), gt=0,
                               description="Training jobs running at once, each in its own process.")
    train_queue: int = Field(default=16, ge=0, description="Training jobs that may wait for a worker.")
    train_max_params: int = Field(default=1_000_000, gt=0, description="Most parameters of a trained network.")
    train_max_epochs: int = Field(default=20, gt=0, description="Most epochs of a training job.")
    train_max_train_size: int = Field(default=58_000, gt=0, le=58_000,
                                      description="Most training images of a job (60,000 less 2,000 for validation).")
    train_max_seconds: float = Field(default=1800, gt=0, allow_inf_nan=False,
                                     description="Wall time after which a running job is stopped.")
    train_idle_seconds: float = Field(default=120, gt=0, allow_inf_nan=False,
                                      description="A job nobody watched for this long is stopped.")
    train_dir: Path | None = Field(default=None, description="Where jobs keep checkpoints and models.")

    class_max_students: int = Field(default=60, gt=0, le=1000, description="The most students a class may have.")
    class_max_classes: int = Field(default=100, gt=0, description="The most classes held at once.")
    class_ttl_seconds: int = Field(default=4 * 3600, gt=0, description="A class idle this long expires.")
    class_drawings_per_second: float = Field(default=5.0, gt=0, le=100, allow_inf_nan=False,
                                             description="Drawings a student's socket may send a second.")

    @field_validator("session_store")
    @classmethod
    def _memory_or_redis_url(cls, value: str) -> str:
        if value == "memory":
            return value
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected 'memory' or a Redis URL such as redis://localhost:6379/0")
        try:
            parts = redis.connection.parse_url(value)
            db = urlsplit(value).path.strip("/") if value.startswith("redis") else ""
            if not ("host" in parts or "path" in parts) or not (db.isdigit() or db == ""):
                raise ValueError("expected redis://host:port/db, db a number")
        except ValueError as e:
            raise ValueError(f"not a Redis URL: {e}") from None
        return value


class SettingsError(SystemExit):
    """Settings the server cannot start with; the message names each variable and what is wrong with it."""


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment (and `overrides`), or SettingsError with one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        lines = []
        for err in e.errors():
            name = "CNN_" + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"  {name}={err.get('input')!r}: {err['msg']}")
        raise SettingsError("cannot start, the settings are not valid:\n" + "\n".join(lines)) from None
