"""A bench-only stand-in for the target's side of a reconcile: N documents with keys 1..N, nothing stored.

Like the nginx bulk sink (``bench/sink.py``) it exists so that the bench
measures the service and not the test server, which holds everything in
memory and answers a few thousand requests a second. It answers only what
``ingestion/sink/reconcile.py`` asks: the key field's mapping, ``_count``, a
search sorted on the key with ``search_after``, and ``_bulk`` deletes.

    python -m bench.keys_server 1000000     # prints {"url": ...} and serves until killed
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

HEADERS = {"Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"}


def handler(total: int) -> type[BaseHTTPRequestHandler]:
    class Keys(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, body: Any) -> None:
            data = orjson.dumps(body)
            self.send_response(200)
            for name, value in HEADERS.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if "/_mapping/field/" in path:
                index = path.strip("/").split("/")[0]
                self._send({index: {"mappings": {"id": {"full_name": "id", "mapping": {"id": {"type": "long"}}}}}})
            else:
                self._send({"version": {"number": "8.15.0"}, "tagline": "You Know, for Search"})

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            body = self._body()
            if path.endswith("/_count"):
                self._send({"count": total})
            elif path.endswith("/_search"):
                request = orjson.loads(body or b"{}")
                size = int(request.get("size", 10))
                after = int((request.get("search_after") or [0])[0])
                keys = range(after + 1, min(after + size, total) + 1)
                hits = [{"_id": str(k), "_score": None, "sort": [k]} for k in keys]
                self._send({"hits": {"hits": hits}})
            elif path.endswith("/_bulk"):
                lines = [line for line in body.split(b"\n") if line]
                self._send({"errors": False, "items": [{"delete": {"status": 200}} for _ in lines]})
            else:
                self._send({})

        do_PUT = do_POST

    return Keys


def main() -> None:
    total = int(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(total))
    print(orjson.dumps({"url": f"http://127.0.0.1:{server.server_address[1]}"}).decode(), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
