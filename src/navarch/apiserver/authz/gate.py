"""The step of the request pipeline between authentication and routing: impersonation, then one
authorization decision for the request's attributes (403 with upstream's message when not allowed).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from navarch.apiserver.authz.attributes import from_request
from navarch.apiserver.authz.authorizer import PRIVILEGED_GROUP, Authorizer
from navarch.apiserver.authz.decision import ALLOW
from navarch.apiserver.authz.impersonation import impersonate, requested
from navarch.apiserver.authz.messages import forbidden


class RequestGate:
    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    def check(self, request: web.Request, user: Any) -> Any:
        """The user the request runs as (the impersonated one, if asked and allowed); raises 403."""
        if requested(request.headers):
            acting = impersonate(self.authorizer.authorize, request.headers, user)
            if acting is not None:
                user = acting
        elif PRIVILEGED_GROUP in (user.get("groups") or ()):
            # Allowed whatever it asks (the chain's first answer): no need to parse the request.
            return user
        a = from_request(request.method, request.path, request.query, user)
        decision, reason = self.authorizer.authorize(a)
        if decision != ALLOW:
            raise forbidden(a, reason)
        return user
