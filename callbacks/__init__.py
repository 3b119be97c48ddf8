"""One answer's event queue: the handler that fills it and the runnable that drains it.

The runnable (:class:`RagEventStream`) is what LangServe serves at ``/rag/events`` and
what ``/rag/sse`` iterates.
"""

from callbacks.event_stream import RagEventStream
from callbacks.queue_handler import QueueCallbackHandler
from callbacks.stream_request import StreamRequest

__all__ = ["QueueCallbackHandler", "RagEventStream", "StreamRequest"]
