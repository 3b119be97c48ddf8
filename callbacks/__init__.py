"""The async callback handler that turns chain callbacks into typed events on a bounded queue."""

from callbacks.queue_handler import QueueCallbackHandler

__all__ = ["QueueCallbackHandler"]
