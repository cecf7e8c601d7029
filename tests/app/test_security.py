"""Security headers on every answer, a page that does not trust the Host header, HEAD /healthz, and
CNN_TRUST_PROXY_HEADERS: forged X-Forwarded-* change nothing unless the setting says a proxy sets them.

The `server` header and uvicorn's own proxy handling live outside the app: tests/app/test_security_server.py starts
real uvicorn processes for those."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from fastapi import Request
from fastapi.testclient import TestClient

from app.security import DOCS_POLICY, PAGE_POLICY


def directives(policy: str) -> dict[str, str]:
    """'default-src 'self'; img-src 'self' data:' -> {"default-src": "'self'", "img-src": "'self' data:"}."""
    return {name: value for name, _, value in (d.strip().partition(" ") for d in policy.split(";"))}


def assert_secure(response_headers: object, policy: str = PAGE_POLICY) -> None:
    headers = dict(response_headers)  # type: ignore[call-overload]
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower.get("content-security-policy") == policy, headers
    assert lower.get("x-content-type-options") == "nosniff", headers
    assert lower.get("referrer-policy") == "same-origin", headers
    assert "server" not in lower, headers


def test_the_page_policy_lets_nothing_inline_run() -> None:
    d = directives(PAGE_POLICY)
    assert d["default-src"] == "'self'"
    assert d["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval', no other origin
    assert d["img-src"] == "'self' data: blob:"
    assert d["connect-src"] == "'self'"
    assert d["frame-ancestors"] == "'none'"
    assert d["base-uri"] == "'none'"
    assert d["form-action"] == "'self'"
    assert d["object-src"] == "'none'"
    # Styles are the one inline thing allowed, for plotly.js (see app/security.py and tests/browser/test_security.py).
    assert d["style-src"] == "'self' 'unsafe-inline'"


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 200),
    ("GET", "/healthz", 200),
    ("HEAD", "/healthz", 200),
    ("GET", "/api/model", 200),
    ("GET", "/static/js/main.js", 200),
    ("GET", "/vendor/plotly.min.js", 200),
    ("GET", "/openapi.json", 200),
    ("GET", "/no/such/page", 404),
    ("DELETE", "/healthz", 405),
    ("POST", "/api/backward", 422),
])
def test_every_answer_carries_the_security_headers(client: TestClient, method: str, path: str, status: int) -> None:
    r = client.request(method, path, json={"target": "seven"} if method == "POST" else None)
    assert r.status_code == status, r.text
    assert_secure(r.headers)


def test_a_crash_answers_500_with_the_security_headers_too(client: TestClient) -> None:
    # Starlette answers an unexpected exception outside every middleware; the handler sets the headers itself.
    def crash() -> None:
        raise RuntimeError("boom")

    client.app.add_api_route("/test-crash", crash)  # type: ignore[attr-defined]
    crashing = TestClient(client.app, raise_server_exceptions=False)
    r = crashing.get("/test-crash")
    assert r.status_code == 500
    assert r.json() == {"detail": "something went wrong on the server; the error was logged", "code": "internal_error"}
    assert_secure(r.headers)


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_work_offline_under_their_own_policy(client: TestClient, path: str) -> None:
    """Swagger UI starts from an inline script: a policy for those pages alone, still with nothing from another
    origin; every script and stylesheet they name is served here."""
    r = client.get(path)
    assert r.status_code == 200
    assert_secure(r.headers, DOCS_POLICY)
    assert "http" not in DOCS_POLICY and "'unsafe-inline'" not in directives(PAGE_POLICY)["script-src"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_the_page_runs_nothing_inline(client: TestClient) -> None:
    html = client.get("/").text
    # The only inline <script> is the page's data: a JSON block, which no browser executes.
    assert html.count("<script") == 3, html[:2000]
    assert '<script id="page-data" type="application/json">' in html
    assert '<script src="/vendor/plotly.min.js" defer></script>' in html
    assert '<script type="module" src="/static/js/main.js"></script>' in html
    assert " on" + "load=" not in html and "javascript:" not in html


def test_a_forged_host_header_does_not_reach_the_page(client: TestClient) -> None:
    r = client.get("/", headers={"Host": "evil.example"})
    assert r.status_code == 200
    assert "evil.example" not in r.text
    assert 'href="/static/css/app.css"' in r.text
    assert '"samples": "/static/data/samples.json"' in r.text


def test_head_healthz_answers_200_without_a_body(client: TestClient) -> None:
    r = client.head("/healthz")
    assert r.status_code == 200
    assert r.content == b""


def test_trust_proxy_headers_is_off_by_default(make_client: Callable[..., TestClient]) -> None:
    assert make_client().app.state.services.settings.trust_proxy_headers is False  # type: ignore[attr-defined]


FORGED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def _who_am_i(client: TestClient) -> dict[str, str]:
    """The scheme and client address the app sees for a request carrying FORGED."""

    def who(request: Request) -> dict[str, str]:
        return {"scheme": request.url.scheme, "client": request.client.host if request.client else ""}

    client.app.add_api_route("/test-who", who)  # type: ignore[attr-defined]
    r = client.get("/test-who", headers=FORGED)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_forged_forwarded_headers_change_nothing_by_default(make_client: Callable[..., TestClient]) -> None:
    assert _who_am_i(make_client()) == {"scheme": "http", "client": "testclient"}


def test_behind_a_trusted_proxy_the_app_sees_the_browsers_scheme_and_address(
        make_client: Callable[..., TestClient]) -> None:
    assert _who_am_i(make_client(trust_proxy_headers=True)) == {"scheme": "https", "client": "203.0.113.7"}
