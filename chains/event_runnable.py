"""The async-only runnable that streams typed events, shared by the answer and summary streams.

:class:`~callbacks.event_stream.RagEventStream` and
:class:`~chains.summarize.StreamingSummarizer` only make sense streamed: ``invoke``
refuses, and ``ainvoke`` runs the stream to its end and returns its last event (``done``,
``summary_done`` or ``error``). Subclasses implement ``astream``, whose first event always
comes, so the last one exists.
"""

from __future__ import annotations

from typing import Any, TypeVar

from langchain_core.runnables import Runnable, RunnableConfig

E = TypeVar("E")


class EventRunnable(Runnable[Any, E]):
    """A runnable whose output is a stream of typed events; async only."""

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> E:
        """Not supported: the events only make sense streamed."""
        raise NotImplementedError(
            f"{type(self).__name__} is async-only; use astream() or ainvoke()"
        )

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> E:
        """Run the stream to its end and return the last event."""
        async for event in self.astream(input, config, **kwargs):
            last = event
        return last
