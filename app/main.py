"""The FastAPI application: create_app() wires settings, the network, the session store, routes and error handlers.

    uvicorn app.main:app --no-server-header --no-proxy-headers
    cnn-visualizer --host 127.0.0.1 --port 8000 [--model PATH] [--workers N]   (the same two flags, set in main())

Several worker processes (`--workers N`, or uvicorn's own) need CNN_SESSION_STORE=redis://…: any of them may serve
any request of a learner, so the sessions must live where all of them see them.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette_compress import CompressMiddleware
from threadpoolctl import threadpool_limits
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.config import Settings, load_settings
from app.errors import AppError
from app.limits import BodyLimit, BodyLimitMiddleware, forward_body_bytes, forward_limit, model_limit
from app.paths import STATIC_DIR
from app.routes import api, classroom, lessons, model, pages, train, ws
from app.security import SecurityHeadersMiddleware, security_headers
from app.services.container import Services
from app.services.redis_store import SessionStoreUnreachable
from app.training.service import TrainingService
from cnn import ModelFileError
from cnn.allocator import keep_freed_memory

log = logging.getLogger("cnn_visualizer")
DOCS_ASSETS = "/static-docs"  # Swagger UI's and ReDoc's files


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


def _validation_message(exc: RequestValidationError) -> str:
    """Pydantic's errors as one readable sentence: 'target: Input should be less than or equal to 9'."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "the request is not valid"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One BLAS thread per request: each pass is small, and concurrency comes from requests running side by side.
        # OpenBLAS's own threads fight over the cores under load (measured: 15× slower at 32 clients on 2 cores).
        blas = threadpool_limits(limits=1, user_api="blas")
        keep_freed_memory()  # numpy's temporaries reuse memory instead of faulting in fresh pages: see cnn.allocator
        try:
            app.state.services = Services.start(settings)
        except (ModelFileError, SessionStoreUnreachable) as e:
            raise RuntimeError(f"cannot start: {e}") from None
        log.info("serving %s (%d parameters)", settings.model_path, app.state.services.network.summary.total_params)
        app.state.training = TrainingService(settings)  # training jobs, in worker processes of their own
        await app.state.services.classes.start()  # class mode's sweep, and its pub/sub listener with Redis
        try:
            yield
        finally:
            await app.state.services.classes.stop()
            app.state.training.shutdown()  # every job's process ends with the server
            app.state.services.close()  # the session store's connections (Redis's pool)
            blas.restore_original_limits()

    # FastAPIOffline: /docs and /redoc served with their scripts and styles from the installed fastapi-offline
    # package (under DOCS_ASSETS), not from a CDN, so the API documentation works without internet.
    app = FastAPIOffline(
        static_url=DOCS_ASSETS,
        title="CNN Visualizer",
        version="0.1.0",
        summary="Run a small numpy CNN forward and backward on a drawn digit and watch every layer.",
        lifespan=lifespan,
    )
    # zstd for browsers that take it (Chromium, Firefox), brotli, then gzip for the rest; low levels, because the
    # payloads are float32 arrays that compress little more at high levels, at many times the cost.
    app.add_middleware(CompressMiddleware, minimum_size=2048, zstd_level=1, brotli_quality=1, gzip_level=1)
    # Added last, so outermost: every request body is bounded before anything reads it (app.limits).
    app.add_middleware(BodyLimitMiddleware, default=BodyLimit(settings.max_json_bytes),
                       routes={api.router.url_path_for("forward"): forward_limit(settings.max_upload_bytes),
                               model.router.url_path_for("upload_model"): model_limit(settings.max_model_bytes)})
    app.add_middleware(SecurityHeadersMiddleware)  # outside the body limit, so that its 413 carries them too
    if settings.trust_proxy_headers:
        # Outermost, so that everything inside sees the browser's scheme and address. "*": the proxy's address is
        # rarely fixed (containers); the setting's contract is that nothing but the proxy can reach the server.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts="*")

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> JSONResponse:
        response = _error(exc.status_code, exc.code, exc.message)
        response.headers.update(exc.headers)  # e.g. a 429's or 503's Retry-After
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        response = _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))
        response.headers.update(exc.headers or {})  # e.g. a 405's Allow
        return response

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        response = _error(500, "internal_error", "something went wrong on the server; the error was logged")
        # Starlette answers this one outside every middleware, so it sets the security headers itself.
        response.headers.update(security_headers(request.url.path))
        return response

    app.include_router(pages.router)
    app.include_router(api.router)
    app.include_router(model.router)
    app.include_router(ws.router)
    app.include_router(train.router)
    app.include_router(lessons.router)
    app.include_router(classroom.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


app = create_app()


def main(argv: list[str] | None = None) -> int:
    """The console script: cnn-visualizer --host 127.0.0.1 --port 8000 [--model PATH]."""
    parser = argparse.ArgumentParser(prog="cnn-visualizer", description="Serve the CNN visualizer.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default=None, help="a model file, .npz (cnn-train's) or .onnx (as PyTorch exports "
                        "it) (default: the pretrained LeNet-5)")
    parser.add_argument("--workers", type=int, default=1,
                        help="server processes sharing the port (more than 1 needs CNN_SESSION_STORE=redis://…)")
    args = parser.parse_args(argv)
    if args.model:
        os.environ["CNN_MODEL_PATH"] = args.model
    settings = load_settings()
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    if args.workers > 1 and settings.session_store == "memory":
        parser.error(f"--workers {args.workers} needs the sessions where every worker sees them: set "
                     "CNN_SESSION_STORE=redis://host:port/db (with the memory store, each worker would hold its own "
                     "sessions and a learner's next request could land on one that never saw them)")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # A WebSocket message is bounded like the forward's body, whose data URL is the largest command. No `server`
    # header (it names the software to whoever asks), and X-Forwarded-* only as CNN_TRUST_PROXY_HEADERS says:
    # uvicorn's own proxy_headers would trust them from 127.0.0.1 whatever the setting.
    # Several workers are separate processes that each import this module and build the app from the environment
    # (where --model was put above): uvicorn takes an import string for them.
    options: dict[str, Any] = {"host": args.host, "port": args.port, "server_header": False, "proxy_headers": False,
                               "ws_max_size": forward_body_bytes(settings.max_upload_bytes)}
    if args.workers > 1:
        uvicorn.run("app.main:app", workers=args.workers, **options)
        return 0
    server = _AnnouncingServer(uvicorn.Config(create_app(settings), **options))
    server.run()
    return 0


def _open_url(host: str, port: int) -> str:
    """The address a person opens: a wildcard bind is reached at 127.0.0.1 on this machine."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's Server, whose start-up ends with one line saying where to open the page."""

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started:
            log.info("ready: open %s in a browser (Ctrl+C stops the server)",
                     _open_url(self.config.host, self.config.port))
