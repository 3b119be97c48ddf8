"""The dependencies every door uses: the caller, and the checks routes declare.

The caller is resolved once per request by :class:`~app.auth.access.KeyBackend`
(Starlette's authentication middleware) and read here as ``request.user``; routes never
compare keys themselves. Each route declares one policy: :func:`require_reader` (a
route that names no knowledge base), :func:`require_admin` or :func:`require_admin_key`,
or a knowledge-base check through :func:`app.deps.open_kb` with the action it needs.
``tests/http/test_access_matrix.py`` walks the app's route table and fails on a route
that declares none.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.auth.access import Access
from app.auth.principal import Principal
from app.auth.store import KeyStoreUnavailableError

_bearer = HTTPBearer(
    auto_error=False,
    description="A key from `streaming-rag keys create` (or RAG_API_KEY, an admin key)",
)


async def _access(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


AccessDep = Annotated[Access, Depends(_access)]


async def _caller(
    request: Request,
    # Resolved by the middleware; declared here so the OpenAPI schema shows the scheme.
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    caller: Principal = request.user
    if caller.unresolved is not None:
        raise KeyStoreUnavailableError(caller.unresolved)  # a 503: never let through
    return caller


CallerDep = Annotated[Principal, Depends(_caller)]
"""Who is asking: a key's principal, the anonymous caller, or the open service's."""


async def require_reader(access: AccessDep, caller: CallerDep) -> None:
    """Policy of routes that read but name no knowledge base: a key when reads are protected."""
    access.require_reader(caller)


async def require_admin(access: AccessDep, caller: CallerDep) -> None:
    """Policy of the knowledge-base management routes: an admin key (or the open service)."""
    access.require_admin(caller)


async def require_admin_key(access: AccessDep, caller: CallerDep) -> None:
    """Policy of the key routes: an admin key, even while the service is open."""
    access.require_admin(caller, key_needed=True)
