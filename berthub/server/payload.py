"""Fields of a client's JSON body, each checked for its type before it is used.

A field is what the API says it is or the request is a 400 naming the field: `{"tag": null}` never
becomes a tag named "None", `{"size": true}` never a size of 1. Every route reading JSON goes through
these (and so should new ones).
"""

from __future__ import annotations

import json
from typing import Any

from berthub.server.errors import BadRequest

_NO_DEFAULT = object()
_JSON_TYPES = {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "an object"}


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """The body as a JSON object; 400 (`what` expects a JSON object body) for anything else."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: JSON nested thousands deep
        data = None
    if not isinstance(data, dict):
        raise BadRequest(f"{what} expects a JSON object body.")
    return data


def field(data: dict[str, Any], key: str, kind: type, what: str, default: Any = _NO_DEFAULT) -> Any:
    """`data[key]` if it is of `kind` (bool is no int); `default` when absent or null, else a 400."""
    value = data.get(key)
    if value is None and default is not _NO_DEFAULT:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"{what}: '{key}' must be {_JSON_TYPES.get(kind, kind.__name__)}, got "
                         f"{json.dumps(value)[:100]}.")
    return value
