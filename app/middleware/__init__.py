"""ASGI middleware around every route: body limit, rate limit, metrics and the access log.

Each one answers or observes a request before a route sees it, so no route repeats
these checks. ``create_app`` adds them in order (:mod:`app.server`).
"""
