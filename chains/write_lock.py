"""The write lock: one writer at a time per collection, in every process that writes.

Readers take no lock (:mod:`chains.versions` keeps them consistent), but two writers of
the same document must not interleave: each one's "delete my stale chunks" step would
delete the other's fresh ones. Writers are the API workers, the CLI's ``ingest`` and the
sample-docs indexing at ``serve``, possibly all at once against one Chroma server.

- On one host, a file lock (``filelock``, an OS-level ``flock``) in the data directory
  serializes every process and thread that writes there.
- With ``RAG_REDIS_URL``, a Redis lock (redis-py's ``Lock``, which expires if its holder
  dies) serializes writers on any host that shares the Redis server.

Only the Chroma writes hold it; embedding, the slow part, runs before.
"""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager
from pathlib import Path

from filelock import FileLock

from chains.errors import StoreUnavailableError

REDIS_LOCK_TIMEOUT_S = 120
"""A Redis lock whose holder died frees itself after this long; a write of one large
document (thousands of chunks) to a remote Chroma takes seconds."""


def collection_write_lock(
    collection: str, *, directory: Path, redis_url: str | None = None
) -> AbstractContextManager[object]:
    """The lock every writer of ``collection`` takes around its Chroma writes.

    Example:
        >>> with collection_write_lock("streaming_rag", directory=Path("./data")):
        ...     store.add_documents(chunks)

    Raises:
        StoreUnavailableError: ``redis_url`` is set and Redis does not answer.

    """
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)
        try:
            client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailableError(
                f"Redis does not answer at RAG_REDIS_URL ({redis_url}); start it "
                "(`make redis`) or unset RAG_REDIS_URL."
            ) from exc
        lock: AbstractContextManager[object] = client.lock(
            f"streaming-rag:write:{collection}", timeout=REDIS_LOCK_TIMEOUT_S
        )
        return lock
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(collection.encode()).hexdigest()[:16]
    return FileLock(directory / f"write-{digest}.lock")
