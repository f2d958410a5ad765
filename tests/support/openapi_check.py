"""Checks an answer against the API's OpenAPI document (served by the gateway)."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from ingest_gateway.app import load_openapi

DOC = load_openapi()


def check_answer(path: str, method: str, status: int, body: Any) -> None:
    """Fails unless `status` is documented for `method path` and `body` matches its schema."""
    responses = DOC["paths"][path][method]["responses"]
    assert str(status) in responses, f"{method.upper()} {path} answered {status}, which is not documented"
    spec = responses[str(status)]
    if "$ref" in spec:
        spec = DOC["components"]["responses"][spec["$ref"].rsplit("/", 1)[1]]
    schema = dict(spec["content"]["application/json"]["schema"])
    schema["components"] = DOC["components"]
    Draft202012Validator(schema).validate(body)
