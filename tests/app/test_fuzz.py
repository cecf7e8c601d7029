"""Property-based fuzzing of every operation in the app's OpenAPI schema with schemathesis 4.

What it checks, for every operation schemathesis finds in /openapi.json (healthz, model, forward, params, input
steps, backward, step, reset, gradcheck, export), with the requests it generates from the schema (valid ones, and in
its negative and coverage phases invalid ones: wrong types, out-of-range numbers, missing fields, odd strings):
  - test_no_operation_answers_5xx: the app never answers 5xx. A bad request is the client's fault and gets a 4xx.
  - test_responses_are_documented: the status codes, content types and bodies it answers are those the schema
    declares (schemathesis' conformance checks).
Requests go through one session that has already run a forward and a backward on a sample digit, so backward, step,
gradcheck, input steps and export are exercised past their "do this first" 409s; whatever a generated step does to
that session's weights, later requests keep running on it.

The app runs in-process through schemathesis' ASGI transport, which starts the app's lifespan (loading the model) on
the first request and keeps it running for the rest of the process: no TestClient is needed, and one would start a
second lifespan with its own session store.

How long: hypothesis max_examples=25 per operation, deadline off (a forward pass takes milliseconds, a gradient check
with 64 samples a few hundred); schemathesis adds its own explicit-example and coverage cases. About 10-30 s in all.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.python.asgi import ASGIClient, get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.main import create_app
from tests.app.conftest import png_bytes

app = create_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

FUZZ_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def session(samples: tuple[np.ndarray, np.ndarray]) -> Iterator[ASGIClient]:
    """A client of the fuzzed app whose session has a forward (a 7) and a backward (target 3) behind it."""
    images, _ = samples
    with get_client(app) as client:
        r = client.post("/api/forward", files={"file": ("seven.png", png_bytes(images[7]), "image/png")})
        assert r.status_code == 200, r.text
        r = client.post("/api/backward", json={"target": 3})
        assert r.status_code == 200, r.text
        yield client


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_operation_answers_5xx(case: schemathesis.Case, session: ASGIClient) -> None:
    response = case.call(session=session)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"detail", "code"} and body["detail"], body


# Every status code an operation answers is documented in the schema (404 included).
@schema.parametrize()
@FUZZ_SETTINGS
def test_responses_are_documented(case: schemathesis.Case, session: ASGIClient) -> None:
    case.call_and_validate(session=session, checks=[status_code_conformance, content_type_conformance,
                                                    response_schema_conformance])
