"""The one access check: who is asking (once per request), and what they may touch.

:class:`Access` resolves the ``Authorization: Bearer`` header into a
:class:`~app.auth.principal.Principal` (in :class:`KeyBackend`, Starlette's
authentication middleware, so the rate limit and the access log see it too) and decides
before any store call whether that principal may read or write a knowledge base.

- No key configured anywhere (no ``RAG_API_KEY``, an empty key store) and reads not
  protected: the service is open, as it was before keys: every caller is
  :data:`~app.auth.principal.OPEN`. With ``RAG_PROTECT_READS`` and no key yet, nothing
  is open until ``streaming-rag keys create`` makes the first one.
- Keys configured: writes need a key that grants ``write`` on the knowledge base;
  reads need one that grants ``read`` when ``RAG_PROTECT_READS`` is true, and are open
  otherwise. ``RAG_API_KEY`` is an admin key. A token that is unknown or revoked is a
  401 wherever a key is needed (on an open read it is ignored, as before: OpenAI
  clients always send some key).
- A knowledge base the caller may not read answers exactly like one that does not
  exist: the same 404, the same body, so names do not leak. A write refused on a
  knowledge base the caller may read is a 403.
"""

from __future__ import annotations

import hmac
from dataclasses import replace

from fastapi import HTTPException
from starlette.authentication import AuthCredentials, AuthenticationBackend, BaseUser
from starlette.requests import HTTPConnection

from app.auth.keys import parse_token, secret_matches
from app.auth.principal import ANONYMOUS, OPEN, Action, Principal
from app.auth.store import KeyStore, KeyStoreUnavailableError
from chains.knowledge_bases import kb_not_found

ENV_ADMIN = Principal("admin", "RAG_API_KEY", admin=True)
"""The principal of ``RAG_API_KEY``: an admin key, so deployments from before keys work."""


class Access:
    """Resolve callers and check them against knowledge bases; built once per app.

    Example:
        >>> access = Access(FileKeyStore(path), admin_key=None, protect_reads=True,
        ...                 default_kb="streaming_rag")
        >>> caller = await access.resolve("Bearer srk_...")
        >>> access.check(caller, "read", "handbook")  # raises 401/403/404, or passes

    """

    def __init__(
        self, store: KeyStore, *, admin_key: str | None, protect_reads: bool, default_kb: str
    ) -> None:
        self.store, self.admin_key = store, admin_key
        self.protect_reads, self.default_kb = protect_reads, default_kb

    async def resolve(self, authorization: str | None) -> Principal:
        """The principal behind an ``Authorization`` header (or its absence)."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        admin_key = self.admin_key
        if token and admin_key and hmac.compare_digest(token.encode(), admin_key.encode()):
            return ENV_ADMIN
        if token and (parsed := parse_token(token)) is not None:
            record = await self.store.get(parsed[0])
            if record is not None and secret_matches(record, parsed[1]):
                return Principal.of(record)
        if self.admin_key is None and not self.protect_reads and await self.store.count() == 0:
            return OPEN
        return replace(ANONYMOUS, refused_token=True) if token else ANONYMOUS

    def may_read(self, caller: Principal, kb: str) -> bool:
        """Whether ``caller`` may read the knowledge base ``kb`` (empty: the default)."""
        return not self.protect_reads or caller.granted("read", kb or self.default_kb)

    def actions(self, caller: Principal, kb: str) -> list[str]:
        """What ``caller`` may do with ``kb``, as ``GET /kbs`` shows it."""
        name = kb or self.default_kb
        allowed = {"read": self.may_read(caller, name), "write": caller.granted("write", name)}
        return [action for action, ok in allowed.items() if ok]

    def check(self, caller: Principal, action: Action, kb: str) -> None:
        """Pass, or refuse ``action`` on ``kb``: 401 without a key, 404 unreadable, 403.

        Raises:
            fastapi.HTTPException: 401 (no valid key) or 403 (a write the key cannot make).
            chains.errors.KnowledgeBaseNotFoundError: ``kb`` is not readable by ``caller``,
                exactly as when it does not exist.

        """
        name = kb or self.default_kb
        readable = self.may_read(caller, name)
        if readable if action == "read" else caller.granted("write", name):
            return
        if not caller.is_authenticated:
            raise unauthorized(caller)
        if not readable:
            raise kb_not_found(name)
        raise HTTPException(403, f"this key may not write to the knowledge base {name!r}")

    def require_reader(self, caller: Principal) -> None:
        """401 when reads are protected and the caller has no valid key."""
        if self.protect_reads and not caller.is_authenticated:
            raise unauthorized(caller)

    def require_admin(self, caller: Principal, *, key_needed: bool = False) -> None:
        """401 without a valid key, 403 with a key that is not an admin key.

        The open service (no key anywhere) passes, unless ``key_needed``: managing keys
        always takes an admin key, so nobody can lock an open service by making the first.
        """
        if caller is OPEN and not key_needed:
            return
        if not caller.is_authenticated:
            raise unauthorized(caller)
        if not caller.admin:
            raise HTTPException(403, "this needs an admin key")


def unauthorized(caller: Principal) -> HTTPException:
    """The 401 for a caller without a valid key, saying which it is."""
    why = (
        "the API key is unknown or revoked"
        if caller.refused_token
        else "a valid API key is required: Authorization: Bearer <key>"
    )
    return HTTPException(401, why, headers={"WWW-Authenticate": "Bearer"})


class KeyBackend(AuthenticationBackend):
    """Starlette's authentication backend over :class:`Access`: ``request.user``."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser]:
        """Resolve the caller; a key store that does not answer leaves it unresolved.

        Routes that need the caller then answer 503 (:func:`app.auth.dependencies`),
        while health, metrics and the page, which need no caller, still answer.
        """
        try:
            caller = await self.access.resolve(conn.headers.get("authorization"))
        except KeyStoreUnavailableError as exc:
            return AuthCredentials([]), replace(ANONYMOUS, unresolved=str(exc))
        return AuthCredentials(["admin"] if caller.admin else []), caller
