"""Own what `connector dev` keeps across its restarts: the service's own indices on disk.

The embedded Elasticsearch-API server holds everything in memory. The stack
copies the service's indices (datasources, ingestions, the job log, its
pointers and errors reports) into ``<dev dir>/state`` as an osmem seed
directory (``<index>.index.json`` + ``<index>.ndjson``), which the server
loads with ``-seed`` when the stack starts again.

A snapshot is taken every ``SNAPSHOT_INTERVAL_S`` when something changed and
once more on a clean stop, after the workers have handed their runs back.
It is written into ``state.new`` and swapped in by renames, so a kill at any
moment leaves a complete snapshot (``state``, or ``state.old`` between the two
renames). Killing the stack with SIGKILL loses at most the changes of the
last interval; a run it interrupted is reaped after the lease on the next
start. Indexed documents (targets) are not kept.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from pathlib import Path
from typing import Any

import orjson
from elasticsearch import ApiError, Elasticsearch, TransportError

from connector.indices import INDEX_SETTINGS, IndexNames

log = logging.getLogger(__name__)

SNAPSHOT_INTERVAL_S = 5.0
PAGE_SIZE = 1000


class DevState:
    """The snapshot directories under the dev directory."""

    def __init__(self, directory: Path) -> None:
        self.current = directory / "state"
        self._new = directory / "state.new"
        self._old = directory / "state.old"
        self._saved: dict[str, tuple[str, int]] = {}  # index -> (digest of its files, document count)

    def recover(self) -> Path | None:
        """The snapshot to load at start-up, finishing a swap a kill interrupted; None if there is none."""
        shutil.rmtree(self._new, ignore_errors=True)
        if not self.current.is_dir() and self._old.is_dir():
            self._old.rename(self.current)
        shutil.rmtree(self._old, ignore_errors=True)
        if self.current.is_dir() and any(self.current.iterdir()):
            return self.current
        return None

    def save(self, es: Elasticsearch, names: IndexNames, *, force: bool = False) -> bool:
        """Write a new snapshot if any index changed since the last one; True if written.

        Indices are read in ``names`` order: pointers (job-current) before the
        runs they point to, so a snapshot never names a run it lacks.
        """
        files: dict[str, bytes] = {}
        saved: dict[str, tuple[str, int]] = {}
        for index in names.mappings():
            if not es.indices.exists(index=index):
                continue
            count = int(es.count(index=index)["count"])
            previous = self._saved.get(index)
            if not force and previous is not None and index == names.job_errors and previous[1] == count:
                # The errors report only grows: an unchanged count means unchanged content.
                files.update(self._previous_files(index))
                saved[index] = previous
                continue
            index_file, docs_file = _dump_index(es, index)
            files[f"{index}.index.json"] = index_file
            if docs_file:
                files[f"{index}.ndjson"] = docs_file
            saved[index] = (hashlib.sha256(index_file + docs_file).hexdigest(), count)
        if not force and saved == self._saved:
            return False
        self._write(files)
        self._saved = saved
        return True

    def _previous_files(self, index: str) -> dict[str, bytes]:
        return {
            path.name: path.read_bytes()
            for path in (self.current / f"{index}.index.json", self.current / f"{index}.ndjson")
            if path.is_file()
        }

    def _write(self, files: dict[str, bytes]) -> None:
        shutil.rmtree(self._new, ignore_errors=True)
        self._new.mkdir(parents=True)
        for name, data in files.items():
            (self._new / name).write_bytes(data)
        if self.current.is_dir():
            shutil.rmtree(self._old, ignore_errors=True)
            self.current.rename(self._old)
        self._new.rename(self.current)
        shutil.rmtree(self._old, ignore_errors=True)


def _dump_index(es: Elasticsearch, index: str) -> tuple[bytes, bytes]:
    """The index's creation body and its documents as a _bulk body (empty when it has none)."""
    mappings = es.indices.get_mapping(index=index)[index]["mappings"]
    index_file = orjson.dumps({"settings": INDEX_SETTINGS, "mappings": mappings}, option=orjson.OPT_SORT_KEYS)
    lines: list[bytes] = []
    after: list[Any] | None = None
    while True:
        hits = es.search(index=index, query={"match_all": {}}, sort=["_doc"], size=PAGE_SIZE, search_after=after)[
            "hits"
        ]["hits"]
        for hit in hits:
            lines.append(orjson.dumps({"index": {"_id": hit["_id"]}}))
            lines.append(orjson.dumps(hit["_source"], option=orjson.OPT_SORT_KEYS))
        if len(hits) < PAGE_SIZE:
            break
        after = hits[-1]["sort"]
    return index_file, b"".join(line + b"\n" for line in lines)


class Snapshotter:
    """Save the state every interval in a thread, and once more when stopped."""

    def __init__(
        self, state: DevState, es: Elasticsearch, names: IndexNames, *, interval_s: float = SNAPSHOT_INTERVAL_S
    ) -> None:
        self.state = state
        self.es = es
        self.names = names
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dev-state", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._save(force=False)

    def _save(self, *, force: bool) -> bool:
        try:
            self.state.save(self.es, self.names, force=force)
        except (ApiError, TransportError, OSError) as ex:
            log.warning("could not save the dev state to %s: %s", self.state.current, ex)
            return False
        return True

    def stop(self) -> bool:
        """Stop the thread and take the final snapshot (call after the workers have stopped); True if saved."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self._save(force=True)
