"""How an answer stream reaches the wire and outlives its connection.

``sse_encoder`` is the one place an event becomes SSE text; ``resume`` runs answers as
pumps into ``buffers`` (memory or Redis), so a reconnect with ``Last-Event-ID`` gets what
it missed; ``drain`` lets streams in flight finish on SIGTERM.
"""
