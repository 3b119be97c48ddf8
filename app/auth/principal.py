"""Who is asking: the principal one request acts as, resolved once at the door.

It is Starlette's ``request.user`` (:class:`~starlette.authentication.BaseUser`), so
the middleware that resolves it, the rate limit that counts per key and the access
log all read the same object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from starlette.authentication import BaseUser

from app.auth.keys import EVERY_KB, KeyRecord

Action = Literal["read", "write"]


@dataclass(frozen=True)
class Principal(BaseUser):
    """A key's grants, or the anonymous caller's (none), or the open service's (all)."""

    key_id: str | None
    """The key's id; None for a caller without a valid key."""
    name: str
    read: frozenset[str] = frozenset()
    write: frozenset[str] = frozenset()
    admin: bool = False
    refused_token: bool = False
    """A token was sent but is unknown or revoked (said so in the 401)."""
    unresolved: str | None = None
    """Why the caller could not be resolved (the key store did not answer): routes that
    need the caller answer 503 with it, public ones (health, the page) still answer."""

    @classmethod
    def of(cls, record: KeyRecord) -> Principal:
        """The principal a stored key acts as."""
        return cls(
            record.id, record.name, frozenset(record.read), frozenset(record.write), record.admin
        )

    @property
    def is_authenticated(self) -> bool:
        """Whether the caller presented a valid key."""
        return self.key_id is not None

    @property
    def display_name(self) -> str:
        """The key's name, for logs."""
        return self.name

    @property
    def identity(self) -> str:
        """The key's id (``anonymous`` without one)."""
        return self.key_id or "anonymous"

    def granted(self, action: Action, kb: str) -> bool:
        """Whether the key's own grants allow ``action`` on the knowledge base ``kb``."""
        names = self.read if action == "read" else self.write
        return self.admin or kb in names or EVERY_KB in names


OPEN = Principal(None, "open", admin=True)
"""Every caller when no key is configured at all: the service is open, as before keys."""

ANONYMOUS = Principal(None, "anonymous")
"""A caller without a valid key while keys are configured."""
