"""Own ``GET /_siren/connector/_whoami``: who the credentials belong to, and what they may do."""

from __future__ import annotations

import falcon

from api.auth import ANONYMOUS_ALL, ANY_SCOPE
from api.params import check_params


class WhoAmI:
    """The caller's name and scopes and the auth mode, so a client (the web page) can adapt.

    Any authenticated caller may ask, whatever its scopes; without valid
    credentials (auth mode token or basic) it is a 401 like any other call.
    """

    scopes = {"GET": ANY_SCOPE}

    def __init__(self, auth_mode: str) -> None:
        self.auth_mode = auth_mode

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check_params(req, ())
        principal = getattr(req.context, "principal", ANONYMOUS_ALL)
        resp.media = {"name": principal.name, "scopes": sorted(principal.scopes), "auth_mode": self.auth_mode}
