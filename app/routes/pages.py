"""The page, the health check, and plotly.js served from the installed plotly package (no CDN: works offline)."""

from __future__ import annotations

from pathlib import Path

import plotly
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from app.paths import TEMPLATES
from app.routes.deps import ServicesDep, resolve_cookie
from app.schemas import HealthResponse

router = APIRouter()
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def index(request: Request, svc: ServicesDep) -> Response:
    response = TEMPLATES.TemplateResponse(request, "index.html", {"model": svc.network.model_info().model_dump()})
    await resolve_cookie(request, response, svc)
    return response


@router.get("/healthz", response_model=HealthResponse, tags=["health"], summary="200 when the model is loaded")
async def healthz(svc: ServicesDep) -> HealthResponse:
    # 503 while the session store is unreachable: a load balancer then sends learners to a process that can serve.
    sessions = await svc.store_call(len, svc.store)
    return HealthResponse(status="ok", model=svc.network.model_path.name, sessions=sessions)


@router.head("/healthz", include_in_schema=False)
async def healthz_head(svc: ServicesDep) -> Response:
    """HEAD /healthz: the same 200 without the body, for probes that ask with HEAD."""
    return Response(status_code=200)


@router.get("/vendor/plotly.min.js", include_in_schema=False)
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
