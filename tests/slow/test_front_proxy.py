"""The shipped front proxy (config/nginx.conf) in front of a running `connector serve`."""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
import uuid
from pathlib import Path

import orjson
import pytest
import urllib3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import REPO, ServiceProcess, free_port, wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed (apt-get install nginx-light)"),
]

BASE = "/_siren/connector"


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def _configure(directory: Path, *, listen: int, upstream: int) -> Path:
    """The shipped file with only what the comments say to edit, plus local paths for this test."""
    cert, key = _self_signed(directory)
    text = (REPO / "config" / "nginx.conf").read_text()
    replacements = {
        "pid /run/nginx-connector.pid;": f"pid {directory}/nginx.pid;",
        "/var/log/nginx/connector-access.log": f"{directory}/access.log",
        "/var/log/nginx/connector-error.log": f"{directory}/error.log",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{upstream};",
        "listen 443 ssl;": f"listen 127.0.0.1:{listen} ssl;",
        "/etc/connector/tls/fullchain.pem": str(cert),
        "/etc/connector/tls/privkey.pem": str(key),
    }
    for old, new in replacements.items():
        assert old in text, old
        text = text.replace(old, new)
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


def test_the_shipped_nginx_config_serves_the_api_over_tls(settings_env: dict[str, str], es, tmp_path: Path) -> None:
    port, front = free_port(), free_port()
    service = ServiceProcess(
        ["serve", "--bind", f"127.0.0.1:{port}"],
        {**settings_env, "CONNECTOR_WORKER_PROCESSES": "0"},
        tmp_path / "s.log",
    )
    conf = _configure(tmp_path, listen=front, upstream=port)
    nginx = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(tmp_path), "-e", str(tmp_path / "startup.log"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    http = urllib3.PoolManager(ca_certs=str(tmp_path / "cert.pem"), retries=False)
    url = f"https://127.0.0.1:{front}"
    try:
        service.wait_http(f"http://127.0.0.1:{port}{BASE}/_health")

        def up() -> bool:
            assert nginx.poll() is None, nginx.stderr.read() if nginx.stderr else ""
            try:
                return http.request("GET", f"{url}{BASE}/_health").status == 200
            except urllib3.exceptions.HTTPError:
                return False

        wait_until(up, what="nginx to answer")
        name = f"ds-{uuid.uuid4().hex[:6]}"
        put = http.request(
            "PUT",
            f"{url}{BASE}/datasource/{name}",
            body=orjson.dumps({"sql": {"url": f"sqlite:///{tmp_path}/x.db"}}),
            headers={"Content-Type": "application/json"},
        )
        assert put.status == 201, put.data
        assert put.headers["X-Content-Type-Options"] == "nosniff"
        assert put.headers.get("Server") == "nginx"  # no version
        refused = http.request("POST", f"{url}{BASE}/jobs/_search", body=b"{}", headers={"Content-Type": "text/plain"})
        assert refused.status == 415
    finally:
        nginx.terminate()
        nginx.wait(10)
        if nginx.stderr is not None:
            nginx.stderr.close()
        service.stop()
