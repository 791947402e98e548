"""Own request parsing shared by resources: JSON bodies and typed query parameters."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import falcon
import orjson

from connector.errors import InvalidDefinition, MalformedRequest, PayloadTooLarge

# Parameters any endpoint accepts, as Elasticsearch does; api.middleware.ResponseFormat honours them.
COMMON_PARAMS = frozenset({"pretty", "human", "error_trace", "filter_path"})


def read_json(req: falcon.Request, *, limit: int, required: bool = True) -> Any:
    """Read and decode the JSON body, at most ``limit`` bytes.

    Raises MalformedRequest for missing/undecodable bodies and PayloadTooLarge
    past the limit (also for chunked bodies without a Content-Length).
    """
    if req.content_length is not None and req.content_length > limit:
        raise PayloadTooLarge(f"request body of {req.content_length} bytes exceeds the limit of {limit} bytes")
    # Without Content-Length (chunked) falcon's bounded_stream reads nothing; the server's
    # wsgi.input decodes chunks itself, so read it directly, at most limit + 1 bytes.
    stream = req.bounded_stream if req.content_length is not None else req.stream
    try:
        raw = stream.read(limit + 1)
    except ConnectionError:
        # The server gave up on a client that sends its body too slowly (api.edge_worker).
        raise falcon.HTTPError(falcon.HTTP_408, description="the request body did not arrive in time") from None
    if len(raw) > limit:
        raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
    if not raw.strip():
        if required:
            raise MalformedRequest("request body is required")
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as ex:
        raise MalformedRequest(f"request body is not valid JSON: {ex}") from None


def check_params(req: falcon.Request, allowed: Iterable[str]) -> None:
    """Refuse unknown query parameters (a typo must not be silently ignored)."""
    known = COMMON_PARAMS.union(allowed)
    unknown = sorted(set(req.params) - known)
    if unknown:
        listed = ", ".join(sorted(set(allowed))) or "none"
        raise InvalidDefinition.single(
            unknown[0],
            "unknown_parameter",
            f"request contains unrecognized parameter [{unknown[0]}]; allowed: {listed}",
            entry_type="query_parameter",
        )


def single(req: falcon.Request, name: str) -> str | None:
    value = req.params.get(name)
    if isinstance(value, list):
        raise InvalidDefinition.single(name, "single", "must be given once", entry_type="query_parameter")
    return value


def bool_param(req: falcon.Request, name: str, *, default: bool = False) -> bool:
    value = single(req, name)
    if value is None:
        return default
    if value.lower() in ("", "true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidDefinition.single(name, "boolean", "must be true or false", entry_type="query_parameter")


def int_param(
    req: falcon.Request,
    name: str,
    *,
    default: int,
    minimum: int = 0,
    maximum: int | None = None,
    aliases: tuple[str, ...] = (),
) -> int:
    given = [n for n in (name, *aliases) if single(req, n) is not None]
    if len(given) > 1:
        raise InvalidDefinition.single(
            given[1], "exclusive", f"give only one of {', '.join(given)}", entry_type="query_parameter"
        )
    if not given:
        return default
    key = given[0]
    text = single(req, key) or ""
    try:
        value = int(text)
    except ValueError:
        raise InvalidDefinition.single(key, "integer", "must be an integer", entry_type="query_parameter") from None
    if value < minimum:
        raise InvalidDefinition.single(
            key, "minimum", f"must be at least {minimum}", entry_type="query_parameter", params=[minimum]
        )
    if maximum is not None and value > maximum:
        raise InvalidDefinition.single(
            key, "maximum", f"must be at most {maximum}", entry_type="query_parameter", params=[maximum]
        )
    return value


def page_params(
    req: falcon.Request, *, default_size: int, max_size: int, window: int | None = 10_000
) -> tuple[int, int]:
    """Return ``(from, size)``; ``start``/``count`` are accepted aliases (seed 000).

    ``window`` caps ``from + size`` for listings that page with from/size only.
    """
    from_ = int_param(req, "from", default=0, aliases=("start",))
    size = int_param(req, "size", default=default_size, maximum=max_size, aliases=("count",))
    if window is not None and from_ + size > window:
        raise InvalidDefinition.single(
            "from",
            "result_window",
            f"from + size must be at most {window}; narrow the filters",
            entry_type="query_parameter",
            params=[window],
        )
    return from_, size
