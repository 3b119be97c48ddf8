"""API keys with scopes: what a key grants, how its secret is made, and how it is checked.

A key reads ``srk_<id>_<secret>``. The id finds the key's record without a scan (and
names the key in logs and listings); the record keeps only the SHA-256 of the secret,
which is shown once, at creation. A secret of 32 random bytes needs no slow password
hash: there is nothing to guess, so a fast digest compared in constant time is enough
(GitHub's tokens are stored the same way).

Grants are per knowledge base: ``read`` and ``write`` each list names or ``*`` (every
knowledge base); ``write`` does not imply ``read``. ``admin`` manages knowledge bases
and keys, and may read and write every knowledge base.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from chains.knowledge_bases import valid_kb_name

PREFIX = "srk_"
"""Every key this service makes starts with it, so a leaked one is easy to search for."""

EVERY_KB = "*"


def _valid_grant(name: str) -> str:
    """A knowledge-base name Chroma accepts, or ``*``."""
    return name if name == EVERY_KB else valid_kb_name(name)


Grant = Annotated[str, Field(min_length=1, max_length=63), AfterValidator(_valid_grant)]


class Grants(BaseModel):
    """What a key may do: read and write per knowledge base, or everything (``admin``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, max_length=100, description="who holds the key")
    read: list[Grant] = Field(default_factory=list, max_length=100)
    write: list[Grant] = Field(default_factory=list, max_length=100)
    admin: bool = False

    @model_validator(mode="after")
    def _grants_something(self) -> Grants:
        if not (self.read or self.write or self.admin):
            raise ValueError(
                "a key must grant something: read, write (a knowledge base or *) or admin"
            )
        return self


class KeyRecord(Grants):
    """A stored key: its grants, when it was made, and the digest of its secret."""

    id: str
    created_at: float
    secret_sha256: str

    def public(self) -> dict[str, Any]:
        """The record as listings show it: everything but the digest."""
        return self.model_dump(exclude={"secret_sha256"})


def mint_key(grants: Grants) -> tuple[KeyRecord, str]:
    """A new key for ``grants``: its record to store, and the token to show once.

    Example:
        >>> record, token = mint_key(Grants(name="team-a", read=["handbook"]))
        >>> token.startswith(f"srk_{record.id}_")
        True

    """
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    record = KeyRecord(
        **grants.model_dump(), id=key_id, created_at=time.time(), secret_sha256=_digest(secret)
    )
    return record, f"{PREFIX}{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a token shaped like ours, else None."""
    if not token.startswith(PREFIX):
        return None
    key_id, sep, secret = token[len(PREFIX) :].partition("_")
    if not sep or not key_id or not secret:
        return None
    return key_id, secret


def secret_matches(record: KeyRecord, secret: str) -> bool:
    """Whether ``secret`` is the record's, compared in constant time."""
    return hmac.compare_digest(_digest(secret), record.secret_sha256)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
