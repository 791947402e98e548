"""Own the resources that serve the web page: ``/`` (redirect), the HTML shell, its static files.

Static files are read once when the app is built and served from memory
under a URL that carries a digest of all of them
(``_ui/static/<version>/<name>``), so browsers may cache them for a year and
a new release is fetched at once. The HTML shell is revalidated on every
load (``no-cache`` + ETag). Every response carries the page's
Content-Security-Policy: scripts and styles only from this origin, no
inline code, Trusted Types enforced (the page builds its DOM with
``textContent``, never HTML strings), no framing.
"""

from __future__ import annotations

import hashlib
import html
import string
from dataclasses import dataclass
from pathlib import Path

import falcon

from api.params import check_params
from connector.errors import NotFound

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE = HERE / "templates" / "index.html"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",  # forms are handled by the page's scripts, never submitted natively
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    )
)
# The digest is in the URL: a changed file gets a new URL, so the old one may be cached for good.
IMMUTABLE = "public, max-age=31536000, immutable"
# The shell names the current digest, so browsers revalidate it (cheap: ETag -> 304) on every load.
REVALIDATE = "no-cache"
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def load_assets(directory: Path = STATIC_DIR) -> tuple[str, dict[str, Asset]]:
    """Read the static files; return their combined digest (the URL version) and the files by name."""
    assets: dict[str, Asset] = {}
    combined = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        content_type = _TYPES.get(path.suffix)
        if content_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        assets[path.name] = Asset(body, content_type, _etag(body))
        combined.update(path.name.encode() + b"\0" + body + b"\0")
    return combined.hexdigest()[:16], assets


def _security_headers(resp: falcon.Response) -> None:
    resp.set_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    resp.set_header("X-Frame-Options", "DENY")
    resp.set_header("Referrer-Policy", "no-referrer")


def _send(req: falcon.Request, resp: falcon.Response, body: bytes, content_type: str, etag: str, cache: str) -> None:
    _security_headers(resp)
    resp.set_header("Cache-Control", cache)
    resp.set_header("ETag", etag)
    if req.get_header("If-None-Match") == etag:
        resp.status = falcon.HTTP_304
        return
    resp.content_type = content_type
    resp.data = body


class UiRoot:
    """``GET /``: send people who open the service's address to the web page."""

    public = True

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ())
        # Relative, so that it also works behind a proxy that mounts the service under a path.
        raise falcon.HTTPTemporaryRedirect("_siren/connector/_ui/")


class UiPage:
    """``GET /_siren/connector/_ui/``: the HTML shell; the page itself is in the static files."""

    public = True  # the shell holds no data; the page asks for credentials before calling the API

    def __init__(self, *, version: str, auth_mode: str) -> None:
        template = string.Template(TEMPLATE.read_text(encoding="utf-8"))
        self.body = template.substitute(
            version=html.escape(version, quote=True), auth_mode=html.escape(auth_mode, quote=True)
        ).encode()
        self.etag = _etag(self.body)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ())
        # The shell's URLs are relative to ".../_ui/"; without the slash they would miss the directory.
        if not req.env.get("PATH_INFO", req.path).endswith("/"):
            raise falcon.HTTPTemporaryRedirect("_ui/")
        _send(req, resp, self.body, "text/html; charset=utf-8", self.etag, REVALIDATE)


class UiAsset:
    """``GET /_siren/connector/_ui/static/<version>/<asset>``: one static file, from memory."""

    public = True

    def __init__(self, *, version: str, assets: dict[str, Asset]) -> None:
        self.version = version
        self.assets = assets

    def on_get(self, req: falcon.Request, resp: falcon.Response, version: str, asset: str) -> None:
        check_params(req, ())
        found = self.assets.get(asset)
        if found is None:
            raise NotFound(f"no file [{asset}] in the web page")
        # Another version (a page loaded before an upgrade, or from another process mid-deploy):
        # serve what we have, but do not let it be cached under that URL for good.
        cache = IMMUTABLE if version == self.version else REVALIDATE
        _send(req, resp, found.body, found.content_type, found.etag, cache)
