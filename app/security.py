"""Security headers on every HTTP response, as a small pure ASGI middleware (it never reads or buffers a body).

    Content-Security-Policy   nothing inline executes: scripts only from this origin; see PAGE_POLICY for styles
    X-Content-Type-Options    nosniff: a file is run or styled only as the type the server names
    Referrer-Policy           same-origin: see REFERRER_POLICY

The `server` header is not the app's: uvicorn adds it after the app answers, so every place that starts uvicorn
switches it off (cnn-visualizer's server_header=False, the Dockerfile's --no-server-header).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _policy(**directives: str) -> str:
    return "; ".join(f"{name.replace('_', '-')} {value}" for name, value in directives.items())


# style-src needs 'unsafe-inline' because plotly.js styles itself at run time: it adds <style> elements (its global
# rules, and one per plot for the mode bar's colours, under ids it draws at random, so a page cannot provide them
# ahead with its `no-inline-styles` opt-out) and writes `style` attributes into the SVG it builds. Without it Chromium
# refuses those (tests/browser/test_security.py shows the violations), hover labels and the mode bar lose their
# look. Styles cannot run code; scripts stay strict: nothing inline, nothing from elsewhere, no eval.
PAGE_POLICY = _policy(
    default_src="'self'",
    script_src="'self'",
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data: blob:",
    connect_src="'self'",
    object_src="'none'",
    frame_ancestors="'none'",
    base_uri="'none'",
    form_action="'self'",
)

# /docs (Swagger UI) and /redoc load their code from this server (the fastapi-offline package, app.main), and
# Swagger UI starts it with an inline script. These pages show only the API's own schema, never a learner's data;
# everything else keeps PAGE_POLICY. Nothing from another origin: they work offline.
DOCS_POLICY = _policy(
    default_src="'self'",
    script_src="'self' 'unsafe-inline'",
    style_src="'self' 'unsafe-inline'",
    img_src="'self' data: blob:",
    worker_src="'self' blob:",
    connect_src="'self'",
    object_src="'none'",
    frame_ancestors="'none'",
    base_uri="'none'",
    form_action="'self'",
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

# same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the page's own POSTs (Fetch,
# "serializing a request origin"), which would blind any Origin check against cross-site requests. Other sites
# still get no Referer at all; this server gets only its own URLs back.
REFERRER_POLICY = "same-origin"


def security_headers(path: str) -> dict[str, str]:
    """The headers every response to `path` carries."""
    return {
        "Content-Security-Policy": DOCS_POLICY if path in DOCS_PATHS else PAGE_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": REFERRER_POLICY,
    }


class SecurityHeadersMiddleware:
    """Adds security_headers(path) to each HTTP response's start; a header a route set itself is kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path, root = scope["path"], scope.get("root_path", "")
        extra = security_headers(path[len(root):] if root and path.startswith(root) else path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
