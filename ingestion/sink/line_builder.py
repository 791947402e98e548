"""Own the batches of rows a database rendered as whole bulk items (``sql_json_mysql``).

Each row is (line, *inputs): the line is the ``index`` action, a newline and
the document, all bytes, so the per-row work here is splitting it; rows
whose key cannot be an id come as markers (see ``sql_json_mysql``) and are
rejected as the Python path rejects them. Transforms left to Python read
the raw input values after the line and add their outputs to the document.
Ids are read back from the action lines only when asked for (a rejection,
the last id of a batch).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Sequence
from typing import Any, overload

import orjson

from connector.errors import QueryFailed
from connector.ingestion_def import Transform
from connector.job_store import Rejection
from ingestion.sink.documents import MAX_ID_BYTES, Batch, id_problem
from ingestion.sink.transforms import CompiledTransform, TransformError, compile_transforms
from ingestion.source.sql_json_mysql import RenderedLines
from ingestion.source.values import COLUMN_CONVERTERS, JsonEncoder, load_json

# MariaDB's JSON_QUOTE writes control characters as \u001F where orjson writes \u001f: an odd
# number of backslashes is an escape (an even one, an escaped backslash and then text).
_UPPER_ESCAPE = re.compile(rb"(?<!\\)((?:\\\\)*\\u00[01])([A-F])")
_ESCAPE = b"\\u00"


class TooLarge(QueryFailed):
    """A row's bulk item was larger than the server's ``max_allowed_packet``: MariaDB returned NULL."""


class ActionIds(Sequence[str]):
    """The document ids of a batch, read from its action lines when asked for."""

    def __init__(self, actions: list[bytes]) -> None:
        self._actions = actions

    def __len__(self) -> int:
        return len(self._actions)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return str(orjson.loads(self._actions[index])["index"]["_id"])

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))


def lower_escapes(line: bytes) -> bytes:
    """``line`` with JSON_QUOTE's upper-case ``\\u00XX`` escapes in orjson's lower case."""
    return _UPPER_ESCAPE.sub(lambda m: m.group(1) + m.group(2).lower(), line)


class LineBuilder:
    """Turn rows rendered as bulk items into batches, for one run."""

    def __init__(
        self,
        rendered: RenderedLines,
        *,
        key_column: str | None,
        transforms: list[CompiledTransform],
        encoder: JsonEncoder,
    ) -> None:
        self.rendered = rendered
        self.key_column = key_column
        self.transforms = transforms
        new = dict.fromkeys(t.output for t in transforms if t.output not in rendered.replaced)
        self.added = [(name, orjson.dumps(name) + b":") for name in new]  # '"output":' once, not per row
        self.dumps = encoder.dumps
        self.plain = encoder.plain
        self.positions = {name: 1 + i for i, name in enumerate(rendered.inputs)}
        self.in_doc = frozenset(rendered.doc_columns)
        self.converters = [
            (1 + i, COLUMN_CONVERTERS[db_type])
            for i, db_type in enumerate(rendered.input_types)
            if db_type in COLUMN_CONVERTERS
        ]

    def build(self, rows: Sequence[Sequence[Any]], *, first_row_number: int) -> Batch:
        """Split (or, without a key, complete) each row's item; reject rows whose key cannot be an id."""
        actions: list[bytes] = []
        sources: list[bytes] = []
        rejected: list[Rejection] = []
        keyed = self.rendered.keyed
        transforms = self.transforms
        last: Sequence[Any] | None = None
        for offset, row in enumerate(rows):
            line = row[0]
            if keyed:
                if line is None:
                    raise TooLarge(_too_large(self.key_column))
                action, _, doc = line.partition(b"\n")
                if action[0] == 0:
                    rejected.append(self._refused(action))
                    continue
            else:
                if line is None:
                    raise TooLarge(_too_large(None))
                action, doc = b'{"index":{"_id":"%d"}}' % (first_row_number + offset), line
            if transforms:
                try:
                    doc = self._transformed(doc, row)
                except TransformError as ex:
                    rejected.append(Rejection(_id_of(action), "transform_exception", ex.reason, ex.field))
                    continue
            actions.append(action)
            sources.append(doc)
            last = row
        # One search of the batch's bytes (~0.02 us a row), the rewrite only for the rare batch that needs it.
        if _ESCAPE in b"".join(sources):
            sources[:] = [lower_escapes(source) for source in sources]
        if keyed and not self.rendered.key_is_int and _ESCAPE in b"".join(actions):
            actions[:] = [lower_escapes(action) for action in actions]
        batch = Batch(actions, list[bytes | None](sources), ActionIds(actions), rejected)
        if rows and keyed:
            batch.last_key = self._key(rows[-1][0])
        if rows and self.rendered.order:  # the checkpoint's position: the order columns of the last row
            batch.last_position = tuple(
                batch.last_key if name == self.key_column else rows[-1][self.positions[name]]
                for name in self.rendered.order
            )
        if last is not None:
            batch.last_row = self.values(last, load_json(sources[-1]))
        return batch

    def _transformed(self, doc: bytes, row: Sequence[Any]) -> bytes:
        """The document with the transform outputs: in the place of the columns they replace, else at the end."""
        if self.converters:
            row = list(row)
            for position, convert in self.converters:
                row[position] = convert(row[position])
        outputs = {t.output: t.apply(row) for t in self.transforms}  # a later output of one name wins, as in a dict
        dumps = self.dumps
        if self.rendered.replaced:
            parts = doc.split(b"\0")
            doc = parts[0] + b"".join(
                [dumps(outputs[name]) + part for name, part in zip(self.rendered.replaced, parts[1:], strict=True)]
            )
        if self.added:
            added = b",".join([key + dumps(outputs[name]) for name, key in self.added])
            doc = doc[:-1] + (b"," if len(doc) > 2 else b"") + added + b"}"
        return doc

    def _refused(self, marker: bytes) -> Rejection:
        """The rejection of a row whose key cannot be an id (its marker: see ``sql_json_mysql``)."""
        key = self._marked_key(marker)
        if key is None:
            return Rejection(None, "invalid_primary_key", "primary key is NULL", self.key_column)
        problem = id_problem(key) or f"primary key is longer than {MAX_ID_BYTES} bytes"
        return Rejection(key[:MAX_ID_BYTES], "invalid_primary_key", problem, self.key_column)

    @staticmethod
    def _marked_key(marker: bytes) -> str | None:
        return None if marker[1:2] == b"N" else str(orjson.loads(lower_escapes(marker[2:])))

    def _key(self, line: bytes | None) -> Any:
        """The key of a row, as the Python path reads it (for the checkpoint)."""
        if line is None:
            return None
        head = line[: line.index(b"\n")]
        if head[0] == 0:
            return self._marked_key(head)
        key = _id_of(head)
        return int(key) if self.rendered.key_is_int else key

    def values(self, row: Sequence[Any], document: dict[str, Any] | None = None) -> list[Any]:
        """A row's column values in the query's order (JSON values; bytes for binary columns, as Python reads them)."""
        if document is None:
            line: bytes = row[0]
            doc = line[line.index(b"\n") + 1 :] if self.rendered.keyed else line
            document = load_json(doc.replace(b"\0", b"null"))  # the replaced columns' values are in the row
        binary, in_doc = self.rendered.binary, self.in_doc
        values: list[Any] = []
        for name in self.rendered.columns:
            if name not in in_doc:
                values.append(self.plain(row[self.positions[name]]))
            elif name in binary and isinstance(document.get(name), str):
                values.append(base64.b64decode(document[name]))
            else:
                values.append(document.get(name))
        return values


def _id_of(action: bytes) -> str:
    return str(orjson.loads(lower_escapes(action))["index"]["_id"])


def _too_large(key_column: str | None) -> str:
    return (
        "a row's document is larger than MariaDB's max_allowed_packet, so the database could not render it"
        f"{f' (rows in {key_column} order)' if key_column else ''}; raise max_allowed_packet on the server or set "
        "ingestion.server_rendering to false (CONNECTOR_INGESTION_SERVER_RENDERING=false) to read the rows in Python"
    )


def line_builder(
    rendered: RenderedLines,
    *,
    pk_field: str | None,
    transforms: Sequence[Transform],
    timezone: str,
    encoder: JsonEncoder,
) -> LineBuilder:
    """The builder for rows of ``rendered``: every transform runs here, on the raw inputs after the line."""
    positions = {name: 1 + i for i, name in enumerate(rendered.inputs)}
    compiled = compile_transforms(list(transforms), timezone=timezone, positions=positions)
    return LineBuilder(rendered, key_column=pk_field, transforms=compiled, encoder=encoder)
