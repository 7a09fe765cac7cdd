"""The Hub API specs as openapi-core ``OpenAPI`` objects, to validate answers (and requests).

``legacy_images_spec()`` loads ``hub-openapi-legacy-images.oas3.yaml`` as published: it covers
``images``, ``images-summary``, ``images/{digest}/tags``, ``delete-images`` and ``users/login``.

``newest_spec()`` loads ``hub-openapi.yaml``, which no validator accepts as published, and keeps
only the paths janitor uses (``auth/token``, ``users/login``, ``users/2fa-login``,
``namespaces/{namespace}/repositories``, ``.../repositories/{repository}/tags``) after
normalising its defects in a copy: integer response codes become strings, ``required: true`` on a
property moves into its schema's ``required`` list, responses get a description, undeclared path
parameters are declared, and only the components those paths reach are kept (which drops the
dangling ``team_repo`` reference). ``newest_spec(live_tags=True)`` also declares a tag as the live
Hub sends it: ``images`` a list of per-platform images, a top-level ``digest``, ``v2`` a boolean.

Both specs name ``https://hub.docker.com`` as their server: ``openapi_request`` and
``openapi_response`` wrap httpx objects for openapi-core with that host, whatever host the
emulator (or a test transport) really had. The spec files are read from
``JANITOR_REFERENCE_DIR`` when set, else from the verbatim copies shipped in
``janitor/emulator/reference/``, else from a ``shared/reference`` beside or above the tree.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from pathlib import Path
from typing import Any

import httpx
import yaml
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

HUB_HOST = "https://hub.docker.com"
NEWEST_FILE = "hub-openapi.yaml"
LEGACY_FILE = "hub-openapi-legacy-images.oas3.yaml"
NEWEST_PATHS = (
    "/v2/auth/token",
    "/v2/users/login",
    "/v2/users/2fa-login",
    "/v2/namespaces/{namespace}/repositories",
    "/v2/namespaces/{namespace}/repositories/{repository}/tags",
)
_HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def reference_dir() -> Path:
    """Where the published specs are: ``$JANITOR_REFERENCE_DIR``, the copies shipped beside this
    module, or a ``shared/reference`` found walking up from this file or the working directory."""
    env = os.environ.get("JANITOR_REFERENCE_DIR")
    if env:
        return Path(env)
    shipped = Path(__file__).resolve().parent / "reference"
    if (shipped / NEWEST_FILE).is_file() and (shipped / LEGACY_FILE).is_file():
        return shipped
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for parent in [start, *start.parents]:
            candidate = parent / "shared" / "reference"
            if (candidate / NEWEST_FILE).is_file():
                return candidate
    raise FileNotFoundError(
        "cannot find shared/reference with the Hub specs; set JANITOR_REFERENCE_DIR"
    )


@functools.cache
def _load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not an OpenAPI document")
    return data


@functools.cache
def legacy_images_spec() -> OpenAPI:
    return OpenAPI.from_dict(copy.deepcopy(_load_yaml(reference_dir() / LEGACY_FILE)))


@functools.cache
def newest_spec(*, live_tags: bool = False) -> OpenAPI:
    return OpenAPI.from_dict(newest_spec_dict(live_tags=live_tags))


def newest_spec_dict(*, live_tags: bool = False) -> dict[str, Any]:
    """The normalised subset of the newest spec, as a plain dict (a fresh copy each call)."""
    published = _load_yaml(reference_dir() / NEWEST_FILE)
    spec: dict[str, Any] = {
        "openapi": published["openapi"],
        "info": copy.deepcopy(published["info"]),
        "servers": [{"url": HUB_HOST}],
        "paths": {p: copy.deepcopy(published["paths"][p]) for p in NEWEST_PATHS},
    }
    components = published.get("components", {})
    spec["components"] = _reachable_components(spec["paths"], components)
    spec = _stringify_keys(spec)
    _fix_property_required(spec)
    _describe_responses(spec)
    _declare_path_parameters(spec)
    if live_tags:
        _live_tag_schema(spec)
    return spec


def _refs(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _reachable_components(paths: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Only the components the kept paths reach, transitively; security schemes always."""
    kept: dict[str, Any] = {"securitySchemes": copy.deepcopy(components.get("securitySchemes", {}))}
    todo = list(_refs(paths))
    seen: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, section, name = ref.split("/", 3)
        target = components.get(section, {}).get(name)
        if target is None:
            continue  # dangling in the published file; nothing kept refers to it then
        kept.setdefault(section, {})[name] = copy.deepcopy(target)
        todo.extend(_refs(target))
    return kept


def _stringify_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k) if isinstance(k, int) else k: _stringify_keys(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_stringify_keys(v) for v in node]
    return node


def _fix_property_required(node: Any) -> None:
    """``properties: {x: {required: true}}`` is not OpenAPI: move it to the schema's list."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            listed = node.get("required")
            required = list(listed) if isinstance(listed, list) else []
            for name, prop in props.items():
                if not (isinstance(prop, dict) and isinstance(prop.get("required"), bool)):
                    continue
                if prop.pop("required") and name not in required:
                    required.append(name)
            if required:
                node["required"] = required
        for value in node.values():
            _fix_property_required(value)
    elif isinstance(node, list):
        for value in node:
            _fix_property_required(value)


def _describe_responses(spec: dict[str, Any]) -> None:
    responses = [
        response
        for item in spec["paths"].values()
        for method, operation in item.items()
        if method in _HTTP_METHODS
        for response in operation.get("responses", {}).values()
    ]
    responses += list(spec["components"].get("responses", {}).values())
    for response in responses:
        if isinstance(response, dict) and "$ref" not in response and "description" not in response:
            response["description"] = ""


def _declare_path_parameters(spec: dict[str, Any]) -> None:
    """Every ``{name}`` in a path gets a (string) path parameter if none declares it."""
    params = spec["components"].get("parameters", {})

    def declared(entries: list[Any]) -> set[str]:
        names = set()
        for entry in entries:
            if "$ref" in entry:
                entry = params.get(entry["$ref"].rsplit("/", 1)[-1], {})
            if entry.get("in") == "path":
                names.add(entry.get("name"))
        return names

    for path, item in spec["paths"].items():
        wanted = set(re.findall(r"{([^}]+)}", path))
        path_level = item.setdefault("parameters", [])
        for method, operation in item.items():
            if method not in _HTTP_METHODS:
                continue
            missing = wanted - declared(path_level) - declared(operation.get("parameters", []))
            for name in sorted(missing):
                path_level.append(
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                )


def _live_tag_schema(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    tag = schemas["tag"]
    tag["properties"]["images"] = {"type": "array", "items": {"$ref": "#/components/schemas/image"}}
    tag["properties"]["digest"] = {"type": "string"}
    tag["properties"]["v2"] = {"type": "boolean"}
    image = schemas["image"]
    for name in ("variant", "os_version", "features", "os_features"):
        image["properties"][name] = {**image["properties"].get(name, {}), "nullable": True}


# -- httpx adapters --------------------------------------------------------------------------------


class OpenAPIRequest:
    """An ``httpx.Request`` as openapi-core's ``Request`` protocol, on Hub's host."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.items())),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return HUB_HOST

    @property
    def path(self) -> str:
        return self._request.url.path

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        content = self._request.content
        return content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "").lower()


class OpenAPIResponse:
    """An ``httpx.Response`` as openapi-core's ``Response`` protocol."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(list(self._response.headers.items()))

    @property
    def data(self) -> bytes | None:
        return self._response.content


def openapi_request(request: httpx.Request) -> OpenAPIRequest:
    return OpenAPIRequest(request)


def openapi_response(response: httpx.Response) -> OpenAPIResponse:
    return OpenAPIResponse(response)


def validate_exchange(spec: OpenAPI, response: httpx.Response, *, request: bool = True) -> None:
    """Validate an answer, and unless ``request=False`` its request, against ``spec`` (raises
    openapi-core's errors). Skip the request for a deliberately invalid one (a 400 test)."""
    wrapped = openapi_request(response.request)
    if request:
        spec.validate_request(wrapped)
    spec.validate_response(wrapped, openapi_response(response))
