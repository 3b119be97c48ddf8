"""Start and stop a Chroma server: ``chroma run`` from the chromadb package itself.

Several API workers, the CLI's ``ingest`` and other hosts then share one store through
Chroma's ``HttpClient`` (``RAG_CHROMA_HOST``/``RAG_CHROMA_PORT``), which the embedded
``PersistentClient`` cannot do: its files belong to one process. It listens on loopback
only; put it behind your network's rules to share it between hosts.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from app.engines.child_server import ChildServer
from chains.errors import StreamingRagError

DEFAULT_PORT = 8001


class ChromaServerError(StreamingRagError):
    """The Chroma server could not be started."""


class ChromaServer(ChildServer):
    """A ``chroma run`` child process with its data in ``path``.

    Example:
        >>> with ChromaServer(path=Path("./data/chroma-server"), port=8001) as chroma:
        ...     client = chromadb.HttpClient(host="127.0.0.1", port=chroma.port)

    """

    name = "Chroma server"
    error = ChromaServerError

    def __init__(
        self, *, path: Path, port: int = DEFAULT_PORT, log_path: Path | None = None
    ) -> None:
        super().__init__(port=port, log_path=log_path)
        self.path = path

    @property
    def ready_url(self) -> str:
        """Chroma's heartbeat."""
        return f"{self.url}/api/v2/heartbeat"

    def command(self) -> list[str]:
        """``chroma run`` from this environment's chromadb."""
        chroma = Path(sys.executable).with_name("chroma")
        binary = str(chroma) if chroma.exists() else shutil.which("chroma")
        if binary is None:
            raise ChromaServerError("the `chroma` command of chromadb is not installed")
        self.path.mkdir(parents=True, exist_ok=True)
        return [
            binary,
            "run",
            "--path",
            str(self.path),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
