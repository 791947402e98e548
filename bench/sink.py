"""An acknowledging bulk sink: nginx answers every ``_bulk`` itself and proxies the rest.

With ``filter_path`` (the engine) it answers ``{"errors":false}``; without it
(clients that read per-item results, such as ``helpers.streaming_bulk``) it
serves a static body with 5000 ``"status":201`` items. Everything else (the
job log, GET /, index management) goes to the Elasticsearch-API server, so
the real run lifecycle works while the sink is never the bottleneck.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

import orjson

from tests.support import free_port, wait_until

ITEMS_PER_RESPONSE = 5000

CONFIG = """
{user}
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path {root}/body;
    proxy_temp_path {root}/proxy;
    client_max_body_size 0;
    client_body_buffer_size 16m;
    keepalive_requests 100000;
    upstream search {{ server {upstream}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        location ~ /_bulk$ {{
            default_type application/json;
            if ($arg_filter_path) {{ return 200 '{{"took":1,"errors":false}}'; }}
            rewrite ^ /bulk_items.json last;
        }}
        location = /bulk_items.json {{
            root {root};
            default_type application/json;
            error_page 405 =200 $uri;  # static files refuse POST; answer it anyway
        }}
        location / {{
            proxy_pass http://search;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


class BulkSink:
    def __init__(self, root: Path, upstream: str) -> None:
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise SystemExit("the bulk sink needs nginx: apt-get install nginx-light")
        root.mkdir(parents=True, exist_ok=True)
        items = {"took": 1, "errors": False, "items": [{"index": {"_id": "x", "status": 201}}] * ITEMS_PER_RESPONSE}
        (root / "bulk_items.json").write_bytes(orjson.dumps(items))
        self.port = free_port()
        # As root, nginx workers drop to an unprivileged user that cannot read a private temp dir.
        user = "user root;" if os.geteuid() == 0 else ""
        config = CONFIG.format(user=user, root=root, upstream=upstream.split("//", 1)[1], port=self.port)
        (root / "nginx.conf").write_text(config)
        self.process = subprocess.Popen([nginx, "-c", str(root / "nginx.conf"), "-p", str(root)])
        self.url = f"http://127.0.0.1:{self.port}"

        def listening() -> bool:
            if self.process.poll() is not None:
                raise SystemExit(f"nginx failed to start: {(root / 'error.log').read_text()}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
            return False

        wait_until(listening, timeout=10, what="nginx to listen")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
