"""Other clients' protocols, spoken as thin doors over the typed event stream.

``openai_chat`` is OpenAI's chat completions (every OpenAI SDK, Open WebUI, LibreChat);
``ui_messages`` is the Vercel AI SDK's UI message stream (``useChat``); ``error_shapes``
gives their error responses each protocol's own form. None of them searches or writes:
they translate a request into the event stream's input and its events into their wire
format, so sources, citations, waves and conversations work the same on every door.
"""
