"""Own API authentication and scope checks (SPEC §7).

Resources declare the scope each method needs in a ``scopes`` mapping
(``{"GET": "job:read"}``, or ``ANY_SCOPE`` for any authenticated caller); a
resource with ``public = True`` needs no credentials at all, and finds in
``req.context.principal`` who called when the credentials given were valid
(``None`` otherwise: a public resource never answers 401, nor 429 when
password checks are saturated, so ``_health`` keeps answering). With
``auth.mode = none`` every caller is the ``anonymous`` principal.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import falcon

from connector.errors import Forbidden, TooManyRequests, Unauthorized
from connector.security import CredentialChecker, Principal

ANONYMOUS_ALL = Principal("anonymous", frozenset({"admin", "job:read", "job:write"}))
# Declared by a method that any authenticated caller may use, whatever its scopes (``_whoami``).
ANY_SCOPE = "authenticated"


class AuthMiddleware:
    def __init__(self, checker: CredentialChecker) -> None:
        self.checker = checker

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: Any, params: dict[str, Any]
    ) -> None:
        if resource is None:
            return  # no route: a 404, or a request proxy mode forwards (the cluster authenticates it)
        if getattr(resource, "public", False):
            try:
                req.context.principal = self._authenticate(req)
            except (Unauthorized, TooManyRequests):
                req.context.principal = None
            return
        principal = self._authenticate(req)
        req.context.principal = principal
        scope = getattr(resource, "scopes", {}).get(req.method)
        if scope is None or scope == ANY_SCOPE:
            return  # None: falcon answers 405 for methods the resource lacks
        if not principal.allows(scope):
            raise Forbidden(
                f"action [{req.method} {req.uri_template}] requires scope [{scope}], which "
                f"[{principal.name}] does not have"
            )

    def _authenticate(self, req: falcon.Request) -> Principal:
        mode = self.checker.mode
        if mode == "none":
            return ANONYMOUS_ALL
        header = req.get_header("Authorization") or ""
        scheme, _, credentials = header.partition(" ")
        credentials = credentials.strip()
        if mode == "token":
            if scheme.lower() != "bearer" or not credentials:
                raise _unauthorized("missing bearer token", 'Bearer realm="connector"')
            principal = self.checker.check_token(credentials)
            if principal is None:
                raise _unauthorized(
                    "invalid or unknown bearer token", 'Bearer realm="connector", error="invalid_token"'
                )
            return principal
        if scheme.lower() != "basic" or not credentials:
            raise _unauthorized("missing basic credentials", 'Basic realm="connector", charset="UTF-8"')
        try:
            username, sep, password = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            sep = ""
        if not sep:
            raise _unauthorized("malformed basic credentials", 'Basic realm="connector", charset="UTF-8"')
        found = self.checker.check_basic(username, password)
        if found is None:
            raise _unauthorized("invalid username or password", 'Basic realm="connector", charset="UTF-8"')
        return found


def _unauthorized(reason: str, challenge: str) -> Unauthorized:
    return Unauthorized(reason, challenge=challenge)
