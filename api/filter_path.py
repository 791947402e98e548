"""Own Elasticsearch's ``filter_path`` response filtering for the connector's JSON responses (SPEC §13).

The semantics are Elasticsearch's (``FilterPath`` and ``FilterPathBasedFilter``
in its x-content library), so a client that filters Elasticsearch responses
gets the same result here:

- ``filter_path=a.b,c`` keeps only those paths; a path goes through arrays
  (``hits.hits._id`` keeps the ``_id`` of every hit);
- ``*`` matches any part of one field name (``hits.hits._s*``); ``**`` any
  number of levels (``**.state``: a ``state`` field at least one level deep);
- ``-a.b`` removes a path; exclusions apply first, then inclusions;
- ``\\.`` is a dot inside a field name;
- an object or array left empty by the filter is dropped, and a response
  from which nothing is left is ``{}``.

Cost: compiling is linear in the expression. Filtering visits each value of
the response once; the step from a set of filter nodes on a field name is
memoised, so a response repeating the same field names (a page of hits) costs
one dictionary lookup per field. A wildcard is matched by searching its
literal parts in order (no backtracking), and the compiled tree is capped at
:data:`MAX_NODES` nodes, so no pattern can make a response slow to filter.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from connector.errors import InvalidDefinition

PARAM = "filter_path"
MAX_NODES = 256
_DOUBLE_WILDCARD = "**"


@dataclass(eq=False, slots=True)
class _Node:
    """One segment of the compiled paths; nodes compare by identity."""

    name: str
    final: bool = False
    terms: dict[str, _Node] = field(default_factory=dict)
    wildcards: list[_Node] = field(default_factory=list)
    parts: tuple[str, ...] = ()  # the name split at '*', for wildcard nodes

    @property
    def double(self) -> bool:
        return self.name == _DOUBLE_WILDCARD

    def glob(self, name: str) -> bool:
        """Whether ``name`` matches this wildcard segment (``*`` is any run of characters)."""
        first, *middle, last = self.parts
        if len(name) < len(first) + len(last) or not name.startswith(first) or not name.endswith(last):
            return False
        position, end = len(first), len(name) - len(last)
        for part in middle:
            if part:
                found = name.find(part, position, end)
                if found < 0:
                    return False
                position = found + len(part)
        return True


class _Match:
    """The field matches a complete path: keep (or, excluding, drop) all of it."""


MATCH: Final = _Match()
_DROP: Final = object()  # a filtered value with nothing left
State = frozenset[_Node]
Step = _Match | State | None  # None: the field matches no path


def _segments(expression: str) -> list[str]:
    """Split at unescaped dots exactly as Elasticsearch does (a leading dot stays in the name)."""
    segments: list[str] = []
    rest = expression
    while True:
        split, escaped, i = -1, False, 0
        while i < len(rest):
            if rest[i] == ".":
                split = i
                break
            if rest[i] == "\\" and i + 1 < len(rest) and rest[i + 1] == ".":
                i += 1
                escaped = True
            i += 1
        if split > 0:
            head = rest[:split]
            segments.append(head.replace("\\.", ".") if escaped else head)
            rest = rest[split + 1 :]
        else:
            segments.append(rest.replace("\\.", ".") if escaped else rest)
            return segments


class _Builder:
    def __init__(self) -> None:
        self.root: dict[str, Any] = {}  # name -> (final, children)
        self.nodes = 0

    def insert(self, expression: str) -> None:
        children = self.root
        segments = _segments(expression)
        for depth, name in enumerate(segments):
            if depth == len(segments) - 1:
                if name not in children:
                    self.nodes += 1
                children[name] = (True, {})  # a complete path replaces any longer one below it
                return
            entry = children.get(name)
            if entry is None:
                self.nodes += 1
                entry = children[name] = (False, {})
            if entry[0]:
                return  # a shorter complete path already keeps all of it
            children = entry[1]

    def build(self) -> _Node:
        def node(name: str, final: bool, children: dict[str, Any]) -> _Node:
            built = _Node(name, final, parts=tuple(name.split("*")) if "*" in name else ())
            for child_name, (child_final, grandchildren) in children.items():
                child = node(child_name, child_final, grandchildren)
                if child.parts:
                    built.wildcards.append(child)
                else:
                    built.terms[child_name] = child
            return built

        return node("", False, self.root)


class FilterPath:
    """A compiled ``filter_path``: ``apply`` filters one response."""

    def __init__(self, include: _Node | None, exclude: _Node | None) -> None:
        self.include = include
        self.exclude = exclude
        self._steps: dict[tuple[State, str], Step] = {}

    @classmethod
    def parse(cls, text: str | list[str] | None) -> FilterPath | None:
        """Compile the parameter (a comma list, given once or more); None when it holds no path.

        Raises InvalidDefinition when it compiles to more than MAX_NODES nodes.
        """
        if text is None:
            return None
        joined = ",".join(text) if isinstance(text, list) else text
        include, exclude = _Builder(), _Builder()
        for raw in joined.split(","):
            expression = raw.strip()
            if expression.startswith("-"):
                expression = expression[1:].strip()
                if expression:
                    exclude.insert(expression)
            elif expression:
                include.insert(expression)
            if include.nodes + exclude.nodes > MAX_NODES:
                raise InvalidDefinition.single(
                    PARAM,
                    "max_paths",
                    f"filter_path is too complex: at most {MAX_NODES} path segments in all",
                    entry_type="query_parameter",
                    params=[MAX_NODES],
                )
        if not include.root and not exclude.root:
            return None
        return cls(include.build() if include.root else None, exclude.build() if exclude.root else None)

    def apply(self, value: Any) -> Any:
        """Return the filtered copy of a JSON value (the input is not modified)."""
        if self.exclude is not None:
            value = self._filter(value, frozenset({self.exclude}), inclusive=False)
            if value is _DROP:
                return {}
        if self.include is not None:
            value = self._filter(value, frozenset({self.include}), inclusive=True)
            if value is _DROP:
                return {}
        return value

    def _filter(self, value: Any, state: State, *, inclusive: bool) -> Any:
        if isinstance(value, dict):
            kept: dict[str, Any] = {}
            for name, item in value.items():
                step = self._step(state, str(name))
                if step is MATCH:
                    if inclusive:
                        kept[name] = item
                elif step is None:
                    if not inclusive:
                        kept[name] = item
                else:
                    assert isinstance(step, frozenset)
                    filtered = self._filter(item, step, inclusive=inclusive)
                    if filtered is not _DROP:
                        kept[name] = filtered
            return kept or _DROP
        if isinstance(value, list):
            items = [self._filter(item, state, inclusive=inclusive) for item in value]
            return [item for item in items if item is not _DROP] or _DROP
        # A scalar where only part of a path matched: Elasticsearch keeps it when excluding only.
        return _DROP if inclusive else value

    def _step(self, state: State, name: str) -> Step:
        key = (state, name)
        if key in self._steps:
            return self._steps[key]
        following: set[_Node] = set()
        result: Step = None
        for node in state:
            child = node.terms.get(name)
            candidates = [child] if child is not None else []
            candidates += [w for w in node.wildcards if w.glob(name)]
            if any(c.final for c in candidates):
                result = MATCH
                break
            following.update(candidates)
            if node.double:
                following.add(node)
        if result is None and following:
            result = frozenset(following)
        self._steps[key] = result
        return result
