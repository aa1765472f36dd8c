"""Request bodies in, response bodies out: JSON, YAML and Kubernetes protobuf decoding; content negotiation."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import orjson
import yaml

from navarch.api import errors

MAX_BODY = 3 * 1024 * 1024
JSON = "application/json"
YAML = "application/yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def decode_object(body: bytes, content_type: str | None, kind: str = "") -> dict[str, Any]:
    """A create/update body as a JSON-shaped dict; 400 for malformed input, 415 for unknown types."""
    mt = media_type(content_type)
    if not body.strip():
        raise errors.bad_request("the request body is empty: an object is required")
    if mt in ("", JSON, "*/*") or mt.endswith("+json"):
        try:
            obj = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            what = f" (must be of type {kind})" if kind else ""
            raise errors.bad_request(f"the object provided is unrecognized{what}: couldn't get version/kind; "
                                     f"json parse error: {e}") from None
    elif mt in (YAML, "application/x-yaml", "text/yaml"):
        try:
            obj = yaml.load(body, Loader=_StrictLoader)
        except yaml.YAMLError as e:
            raise errors.bad_request(f"error decoding YAML request body: {_yaml_message(e)}") from None
    elif mt == PROTOBUF:
        from navarch.apiserver.protobuf import decode

        obj = decode(body)
    else:
        raise errors.unsupported_media_type(content_type or "")
    if not isinstance(obj, dict):
        raise errors.bad_request(
            f"the request body must be an object, not {type(obj).__name__ if obj is not None else 'null'}")
    return obj


def decode_options(body: bytes, content_type: str | None) -> dict[str, Any]:
    """DeleteOptions and similar: an empty body is an empty object."""
    if not body.strip():
        return {}
    return decode_object(body, content_type)


class _StrictLoader(yaml.SafeLoader):
    """YAML as Kubernetes reads it: ``on``/``yes`` stay strings (YAML 1.2 booleans only)."""


_StrictLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
import re as _re  # noqa: E402

_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", _re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def _yaml_message(e: yaml.YAMLError) -> str:
    return " ".join(str(e).split())


@dataclass(frozen=True)
class Accept:
    """What the client asked for: a plain object, a Table or PartialObjectMetadata."""

    as_kind: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    version: str = "v1"
    yaml: bool = False


@functools.lru_cache(maxsize=256)
def parse_accept(header: str | None) -> Accept:
    if not header:
        return Accept()
    plain_ok = False
    for clause in header.split(","):
        parts = [p.strip() for p in clause.split(";")]
        mt = parts[0].lower()
        params = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        as_kind = params.get("as", "")
        if as_kind and mt == JSON and params.get("g") == "meta.k8s.io":
            if as_kind in ("Table", "PartialObjectMetadata", "PartialObjectMetadataList"):
                return Accept(as_kind, params.get("v", "v1"))
            continue
        if mt in (JSON, "*/*", "application/*", PROTOBUF):
            plain_ok = True
        if mt == YAML and not plain_ok:
            return Accept(yaml=True)
    return Accept()


def dumps(obj: Any) -> bytes:
    return orjson.dumps(obj)
