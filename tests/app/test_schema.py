"""The OpenAPI schema documents every field of every pass, down to each layer's arrays: walked from the responses
through every $ref, each field is described, and each array is the one documented array type."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

# What each pass's layers must document: the per-layer fields the page reads.
LAYER_FIELDS = {
    "ForwardLayer": {"phase", "index", "name", "kind", "output_shape", "output"},
    "BackwardLayer": {"phase", "index", "name", "kind", "delta_of", "delta", "grads", "routing", "grad_input"},
    "UpdateLayer": {"phase", "index", "name", "kind", "params"},
    "ParamChange": {"shape", "delta", "delta_abs_max", "before_norm", "after_norm", "after"},
}
ARRAY_FIELDS = {("ForwardLayer", "output"), ("BackwardLayer", "delta"), ("BackwardLayer", "routing"),
                ("BackwardLayer", "grad_input"), ("ParamChange", "after"),
                ("ForwardResponse", "input")}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    from app.main import create_app

    with TestClient(create_app()) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    ref = schema.get("$ref")
    if ref is None:
        return None, schema
    name = ref.rsplit("/", 1)[1]
    return name, spec["components"]["schemas"][name]


def walk(spec: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str],
         found: dict[str, dict[str, Any]]) -> list[str]:
    """Every property below `schema` without a description, following $refs (each component once); the components
    reached are collected in `found`."""
    name, schema = resolve(spec, schema)
    if name is not None:
        if name in seen:
            return []
        seen.add(name)
        found[name] = schema
        where = name
    missing = []
    for key, prop in schema.get("properties", {}).items():
        if not prop.get("description") and not resolve(spec, prop)[1].get("description"):
            missing.append(f"{where}.{key}")
        missing += walk(spec, prop, f"{where}.{key}", seen, found)
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            missing += walk(spec, schema[key], f"{where}[]", seen, found)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for i, sub in enumerate(schema.get(key, [])):
            missing += walk(spec, sub, f"{where}<{i}>", seen, found)
    return missing


def is_wire_array(spec: dict[str, Any], schema: dict[str, Any]) -> bool:
    """The documented array type, possibly nullable: {shape, dtype, data} with the dtypes that travel."""
    _, schema = resolve(spec, schema)
    options = schema.get("anyOf", [schema])
    arrays = [o for o in options if o.get("title") == "WireArray"]
    return bool(arrays) and all(set(a["required"]) == {"shape", "dtype", "data"} and
                                a["properties"]["dtype"]["enum"] == ["float32", "uint8", "int32"] for a in arrays)


def test_every_pass_documents_every_field_of_its_layers(spec: dict[str, Any]) -> None:
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for path, method in [("/api/forward", "post"), ("/api/backward", "post"), ("/api/step", "post"),
                         ("/api/reset", "post"), ("/api/params/{layer}", "get"), ("/api/input/steps", "get")]:
        ok = spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
        missing += walk(spec, ok, f"{method.upper()} {path}", set(), found)
    assert missing == []
    for layer, fields in LAYER_FIELDS.items():
        assert layer in found, f"{layer} is not reachable from the responses"
        assert set(found[layer]["properties"]) == fields, layer
    for component, field in ARRAY_FIELDS:
        assert is_wire_array(spec, found[component]["properties"][field]), (component, field)
    # A gradient or a Δ may also travel as an outer product, itself documented.
    for component, field in [("ParamChange", "delta")]:
        options = found[component]["properties"][field]["anyOf"]
        assert {o["title"] for o in options} == {"WireArray", "WireOuter"}
        outer = next(o for o in options if o["title"] == "WireOuter")
        assert set(outer["required"]) == {"shape", "dtype", "outer", "scale"}
    grads = found["BackwardLayer"]["properties"]["grads"]["additionalProperties"]["anyOf"]
    assert {o["title"] for o in grads} == {"WireArray", "WireOuter"}
    # The step answers with the forward on the new weights; the reset with the pretrained weights' forward.
    assert resolve(spec, found["StepResponse"]["properties"]["forward"])[0] == "ForwardPass"


def test_the_forward_request_documents_both_inputs(spec: dict[str, Any]) -> None:
    body = spec["paths"]["/api/forward"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "application/json"}
    json_body = body["application/json"]["schema"]
    assert {"image", "input"} <= set(json_body["properties"])
    assert walk(spec, json_body, "ForwardRequest", set(), {}) == []
