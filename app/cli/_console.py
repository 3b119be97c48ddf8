"""The one stderr console every command prints its progress and errors on."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True)
