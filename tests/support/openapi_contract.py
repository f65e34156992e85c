"""Check HTTP exchanges against Gcore's official Streaming OpenAPI file (openapi-core).

The spec is read at run time from ``$GCORE_OPENAPI_SPEC`` or ``<repo>/../shared``; it is a
third-party file and is never copied into the repository.

Quirks of the official file, and how they are handled (narrowly, at load time):

1. ``nullable: true`` is OpenAPI 3.0 syntax; the file declares ``openapi: 3.1.0``, where the
   keyword means nothing, so e.g. ``processing_time.completed_at: null`` (the spec's own
   example of a running task) would be rejected.  Such schemas are given a ``null`` type.
2. Many properties say ``default: null`` with a non-null type (``ai_tasks_list.previous``,
   ``videoDetails.client_user_id``, ``converted_videos[].size`` ...).  The file then fails
   openapi-spec-validator itself ("None is not of type 'string'"), and the live API sends
   those nulls.  A property whose declared default is null therefore also accepts null.
   For 1 and 2, null is also let through the schema's anyOf/oneOf/allOf/$ref (``result``
   of a running task is ``type: object, nullable: true, anyOf: [...]``).
3. ``content: {}`` on a response means "no documented body", but openapi-core treats it as
   a required body, so the spec's own bodiless ``204`` of ``DELETE /streaming/videos/{id}``
   fails.  Empty content maps are dropped.
4. The file's only server is ``https://api.gcore.com``.  Exchanges are validated by path, as
   if sent there: the simulator, or any base URL under test, stands in for that host.

Nothing else is relaxed: unknown statuses, missing required fields and wrong types still fail.
Statuses the spec does not document for an operation (e.g. 404 on ``GET /streaming/videos/
{id}``) raise ``ContractError``; check their bodies with ``validate_schema``.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml
from jsonschema import Draft202012Validator
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.datastructures import Headers, ImmutableMultiDict

_REPO = Path(__file__).resolve().parents[2]
# Example payloads are data, not schemas (no property in the file is named like these).
_NO_DESCEND = frozenset({"example", "examples"})


class ContractError(AssertionError):
    """An exchange does not match the official spec; the message lists every problem."""


def spec_path() -> Path:
    configured = os.environ.get("GCORE_OPENAPI_SPEC")
    return (
        Path(configured) if configured else _REPO.parent / "shared" / "gcore-streaming-openapi.yaml"
    )


def _allow_null(schema: dict[str, Any]) -> None:
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        kind.append("null")
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"].append(None)
    # A null also has to get past the schema's composition keywords (e.g. ai_results.result
    # is `type: object, nullable: true, anyOf: [...]`, and null matches no branch).
    for keyword in ("anyOf", "oneOf"):
        branches = schema.get(keyword)
        if isinstance(branches, list) and {"type": "null"} not in branches:
            branches.append({"type": "null"})
    for keyword in ("allOf", "$ref"):
        if keyword in schema:
            schema["anyOf"] = [{keyword: schema.pop(keyword)}, {"type": "null"}]


def _declares_null(schema: Mapping[str, Any]) -> bool:
    return schema.get("nullable") is True or ("default" in schema and schema["default"] is None)


def _schema_dicts(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for key, value in node.items():
            if key not in _NO_DESCEND:
                yield from _schema_dicts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_dicts(item)


def _empty_content_removed(spec: dict[str, Any]) -> None:
    """Quirk 3: ``content: {}`` (204 of DELETE /streaming/videos/{id}, 422 of POST
    /streaming/videos) lists no media type, i.e. no documented body, but openapi-core reads
    it as "a body is required" and rejects a bodiless 204."""
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                if isinstance(response, dict) and response.get("content") == {}:
                    del response["content"]


def _patched(raw: dict[str, Any]) -> dict[str, Any]:
    """The official file with the quirks of the module docstring handled."""
    spec = copy.deepcopy(raw)
    for schema in _schema_dicts(spec):
        if _declares_null(schema):
            _allow_null(schema)
    _empty_content_removed(spec)
    return spec


@functools.cache
def spec_dict() -> dict[str, Any]:
    with spec_path().open(encoding="utf-8") as handle:
        return _patched(yaml.safe_load(handle))


@functools.cache
def openapi() -> OpenAPI:
    return OpenAPI.from_dict(spec_dict())


def _server() -> str:
    return str(spec_dict()["servers"][0]["url"]).rstrip("/")


class _Request:
    """openapi-core's Request protocol over plain recorded values."""

    def __init__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> None:
        parts = urlsplit(url)
        self.host_url = _server()
        self.path = parts.path
        self.method = method.lower()
        self.body = body or None
        header_map = Headers(list(headers.items()))
        self.content_type = (header_map.get("content-type") or "application/json").lower()
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qsl(parts.query, keep_blank_values=True)),
            header=header_map,
        )


class _Response:
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes | None) -> None:
        self.status_code = status
        self.headers = Headers(list(headers.items()))
        self.data = body or b""
        self.content_type = (self.headers.get("content-type") or "").lower()


def _explain(exc: Exception) -> str:
    lines = [f"{type(exc).__name__}: {exc}"]
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        for error in getattr(cause, "schema_errors", ()) or ():
            path = "/".join(str(p) for p in error.absolute_path)
            lines.append(f"  at /{path}: {error.message}")
        cause = cause.__cause__ or cause.__context__
        if cause is not None:
            lines.append(f"  caused by {type(cause).__name__}: {cause}")
    return "\n".join(lines)


def _body_bytes(body: bytes | str | None) -> bytes | None:
    if body is None:
        return None
    return body.encode("utf-8") if isinstance(body, str) else body


def validate_request(
    method: str, url: str, headers: Mapping[str, str], body: bytes | str | None
) -> None:
    """Raise ContractError if the request (path, query, security, body) breaks the spec."""
    request = _Request(method, url, headers, _body_bytes(body))
    try:
        openapi().validate_request(request)
    except Exception as exc:
        raise ContractError(f"{method} {url} request:\n{_explain(exc)}") from exc


def validate_response(
    method: str,
    url: str,
    request_headers: Mapping[str, str],
    request_body: bytes | str | None,
    status: int,
    response_headers: Mapping[str, str],
    response_body: bytes | str | None,
) -> None:
    """Raise ContractError if the response is not what the spec documents for the call."""
    request = _Request(method, url, request_headers, _body_bytes(request_body))
    response = _Response(status, response_headers, _body_bytes(response_body))
    try:
        openapi().validate_response(request, response)
    except Exception as exc:
        raise ContractError(f"{method} {url} -> {status} response:\n{_explain(exc)}") from exc


def validate_exchange(
    method: str,
    url: str,
    request_headers: Mapping[str, str],
    request_body_bytes: bytes | str | None,
    status: int,
    response_headers: Mapping[str, str],
    response_body_bytes: bytes | str | None,
) -> None:
    """Validate both halves of one HTTP exchange; raise ContractError on any mismatch."""
    validate_request(method, url, request_headers, request_body_bytes)
    validate_response(
        method,
        url,
        request_headers,
        request_body_bytes,
        status,
        response_headers,
        response_body_bytes,
    )


def _json_bytes(value: Any) -> bytes | None:
    return None if value is None else json.dumps(value).encode("utf-8")


def validate_recorded_call(call: Mapping[str, Any], *, response: bool = True) -> None:
    """Validate one entry of the simulator's ``GET /_sim/calls`` log.

    The log keeps parsed JSON bodies, so they are re-serialised here; the recorded
    Authorization header is redacted but present, which is all the security check needs.
    """
    body = _json_bytes(call.get("body"))
    request_headers = dict(call.get("headers") or {})
    if body is not None:
        request_headers.setdefault("content-type", "application/json")
    validate_request(call["method"], call["url"], request_headers, body)
    if response:
        validate_response(
            call["method"],
            call["url"],
            request_headers,
            body,
            int(call["status"]),
            dict(call.get("response_headers") or {}),
            _json_bytes(call.get("response_body")),
        )


@functools.cache
def _registry() -> Registry:
    resource = Resource.from_contents(spec_dict(), default_specification=DRAFT202012)
    return Registry().with_resource("urn:gcore-streaming", resource)


def validate_schema(component: str, instance: Any) -> None:
    """Validate ``instance`` against ``components.schemas.<component>`` of the spec."""
    validator = Draft202012Validator(
        {"$ref": f"urn:gcore-streaming#/components/schemas/{component}"}, registry=_registry()
    )
    problems = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if problems:
        details = "\n".join(
            f"  at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in problems
        )
        raise ContractError(f"not a valid {component}:\n{details}")
