"""Own the translation of pydantic validation failures into ``invalid[]`` entries."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from connector.errors import InvalidDefinition, InvalidEntry, Rule

M = TypeVar("M", bound=BaseModel)

# Parts pydantic adds to an error location for union members and validators
# ("str", "int", "JdbcBody", "function-after[...]"); field names here are snake_case.
_UNION_TAG = re.compile(r"^(str|int|float|bool|bytes|none|(list|dict|tuple|function-\w+|tagged-union)\[.*|[A-Z]\w*)$")

# Ids end up in URLs, job-log ids and derived index/pipeline names.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
ID_RULE = "1 to 128 letters, digits, '_', '.' or '-', starting with a letter or digit"

_RULE_NAMES = {
    "missing": "required",
    "extra_forbidden": "unknown_field",
}


# Context keys of custom_error that are not rule params.
_REASON, _WITHIN = "reason", "within"


def custom_error(rule: str, reason: str, *, within: str | None = None, **params: str | None) -> PydanticCustomError:
    """An error for a validator to raise: ``rule`` and ``params`` become the entry's rule, ``reason`` its text.

    ``within`` names a key inside the validated value that the entry points at (a field
    validator of ``params`` blaming ``params.format``). ``reason`` is substituted last, so that
    text from the request in it is never read as a placeholder; params that are None are left out.
    """
    given = {name: value for name, value in params.items() if value is not None}
    if within is not None:
        given[_WITHIN] = within
    return PydanticCustomError(rule, "{reason}", {**given, _REASON: reason})


def json_path(root: str, loc: tuple[int | str, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def invalid_from(ex: ValidationError, *, root: str = "$") -> InvalidDefinition:
    """Convert a pydantic error into an InvalidDefinition listing every bad entry."""
    entries: dict[str, list[Rule]] = {}
    for error in ex.errors(include_url=False):
        context = error.get("ctx") or {}
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and _UNION_TAG.match(p)))
        path = json_path(root, loc + ((context[_WITHIN],) if _WITHIN in context else ()))
        params = [v for k, v in sorted(context.items()) if k not in ("error", _REASON, _WITHIN)]
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        entries.setdefault(path, []).append(
            Rule(_RULE_NAMES.get(error["type"], error["type"]), message, _plain(params))
        )
    invalid = [InvalidEntry(path, rules) for path, rules in entries.items()]
    first = invalid[0]
    reason = f"{first.entry}: {first.rules[0].description}"
    if len(invalid) > 1:
        reason += f" (and {len(invalid) - 1} more invalid entries)"
    return InvalidDefinition(reason, invalid)


def parse_model(model: type[M], data: Any, *, root: str = "$", context: dict[str, Any] | None = None) -> M:
    """Validate ``data`` (decoded JSON) into ``model`` or raise InvalidDefinition."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as ex:
        raise invalid_from(ex, root=root) from None


def check_id(value: str, *, what: str) -> str:
    """Return ``value`` if it is a valid resource id, else raise InvalidDefinition."""
    if not ID_PATTERN.fullmatch(value):  # not .match: "$" also matches before a final newline
        raise InvalidDefinition.single(
            "id",
            "pattern",
            f"{what} id must be {ID_RULE}",
            entry_type="path_parameter",
            params=[ID_PATTERN.pattern],
        )
    return value


def _plain(values: list[Any]) -> list[Any]:
    return [v if isinstance(v, str | int | float | bool) or v is None else str(v) for v in values]
