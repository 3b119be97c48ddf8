"""Where keys live, so every worker honours a key, or its revocation, on its next request.

- :class:`FileKeyStore`: one JSON file in the data directory (``keys.json``, mode 0600)
  for the embedded default and for workers on one machine. Writers take a lock file and
  replace the file whole; readers reload it when its inode, size or modification time
  moved, so a check costs one ``stat`` and a change made by another process is seen
  on the next request.
- :class:`RedisKeyStore`: a Redis hash (``streaming-rag:keys``) when ``RAG_REDIS_URL`` is
  set, for workers on several machines; a check is one ``HGET`` (one ``HLEN`` without a
  key).

Revoking a key deletes its record: the next request that presents it is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from app.auth.keys import Grants, KeyRecord, mint_key
from chains.errors import StreamingRagError


class KeyStoreUnavailableError(StreamingRagError):
    """The key store cannot be read, so no request can be authorized (a 503)."""


class KeyStore(Protocol):
    """The keys every worker sees."""

    async def get(self, key_id: str) -> KeyRecord | None:
        """The key with this id, or None (never made, or revoked)."""

    async def count(self) -> int:
        """How many keys there are."""

    async def all(self) -> list[KeyRecord]:
        """Every key, oldest first."""

    async def add(self, record: KeyRecord) -> None:
        """Store a new key."""

    async def remove(self, key_id: str) -> bool:
        """Revoke a key; False when there was none with this id."""

    async def aclose(self) -> None:
        """Release connections."""


class FileKeyStore:
    """Keys in one JSON file, shared by the processes of one machine.

    Example:
        >>> store = FileKeyStore(Path("data/keys.json"))
        >>> await store.add(record)

    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._keys: dict[str, KeyRecord] = {}

    async def get(self, key_id: str) -> KeyRecord | None:
        """The key with this id, from the file as it is now."""
        return self._current().get(key_id)

    async def count(self) -> int:
        """How many keys the file holds."""
        return len(self._current())

    async def all(self) -> list[KeyRecord]:
        """Every key, oldest first."""
        return sorted(self._current().values(), key=lambda record: record.created_at)

    async def add(self, record: KeyRecord) -> None:
        """Write the file again with ``record`` in it, under the lock."""
        await asyncio.to_thread(self._update, lambda keys: keys.__setitem__(record.id, record))

    async def remove(self, key_id: str) -> bool:
        """Write the file again without the key, under the lock."""
        removed: list[KeyRecord | None] = []
        await asyncio.to_thread(self._update, lambda keys: removed.append(keys.pop(key_id, None)))
        return removed[0] is not None

    async def aclose(self) -> None:
        """Nothing to release."""

    def _current(self) -> dict[str, KeyRecord]:
        """The keys, read again only when the file changed since the last read."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._keys = None, {}
            return self._keys
        seen = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if seen != self._seen:
            self._keys, self._seen = self._read(), seen
        return self._keys

    def _read(self) -> dict[str, KeyRecord]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return {key_id: KeyRecord.model_validate(r) for key_id, r in raw["keys"].items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyStoreUnavailableError(
                f"the key file {self.path} cannot be read; fix or remove it"
            ) from exc

    def _update(self, change: Callable[[dict[str, KeyRecord]], object]) -> None:
        """Read, change and replace the file whole, holding the lock file."""
        with self._locked():
            keys = self._read()
            change(keys)
            body = {"keys": {key_id: r.model_dump() for key_id, r in keys.items()}}
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(body, out, indent=1)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(f".{self.path.name}.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class RedisKeyStore:
    """Keys in a Redis hash, shared by every worker with the same ``RAG_REDIS_URL``."""

    HASH = "streaming-rag:keys"

    def __init__(self, url: str) -> None:
        import redis.asyncio

        self.redis = redis.asyncio.Redis.from_url(url, decode_responses=True)

    async def get(self, key_id: str) -> KeyRecord | None:
        """``HGET`` the key's record."""
        with _redis_reachable():
            raw = await self.redis.hget(self.HASH, key_id)
        return None if raw is None else KeyRecord.model_validate_json(raw)

    async def count(self) -> int:
        """``HLEN`` of the hash."""
        with _redis_reachable():
            return int(await self.redis.hlen(self.HASH))

    async def all(self) -> list[KeyRecord]:
        """Every record, oldest first."""
        with _redis_reachable():
            raw = await self.redis.hvals(self.HASH)
        records = [KeyRecord.model_validate_json(value) for value in raw]
        return sorted(records, key=lambda record: record.created_at)

    async def add(self, record: KeyRecord) -> None:
        """``HSET`` the record."""
        with _redis_reachable():
            await self.redis.hset(self.HASH, record.id, record.model_dump_json())

    async def remove(self, key_id: str) -> bool:
        """``HDEL`` the record."""
        with _redis_reachable():
            return bool(await self.redis.hdel(self.HASH, key_id))

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.redis.aclose()


@contextlib.contextmanager
def _redis_reachable() -> Iterator[None]:
    import redis

    try:
        yield
    except redis.RedisError as exc:
        raise KeyStoreUnavailableError(
            "The key store (Redis at RAG_REDIS_URL) does not answer."
        ) from exc


async def issue_key(store: KeyStore, grants: Grants) -> dict[str, Any]:
    """Mint a key for ``grants`` and store it; its record as listed, plus the one-time ``key``."""
    record, token = mint_key(grants)
    await store.add(record)
    return {**record.public(), "key": token}


def open_key_store(path: Path, redis_url: str | None) -> KeyStore:
    """Redis when a URL is given (every worker on every machine), else the file."""
    return RedisKeyStore(redis_url) if redis_url else FileKeyStore(path)
