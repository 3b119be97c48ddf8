"""Helpers of the HTTP tests: read a typed SSE stream, check its shape, build scripted apps,
and read what llama-server itself reports."""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from httpx_sse import aconnect_sse

from app.server import create_app
from bench.harness import free_port


async def read_events(base_url, method="POST", path="/rag/sse", *, delay=0.0, **kwargs):
    """Every SSE event as (id, event name, payload), optionally reading slowly."""
    out = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        async with aconnect_sse(client, method, path, **kwargs) as source:
            source.response.raise_for_status()
            async for sse in source.aiter_sse():
                if not sse.data:
                    continue  # httpx-sse's phantom event after a ping comment
                out.append((sse.id, sse.event, json.loads(sse.data)))
                if delay:
                    await asyncio.sleep(delay)
    return out


def assert_well_formed_answer(events):
    """Ids ``<stream>-1``, ``-2``... of one stream (or plain numbers when not resumable)."""
    streams, numbers = zip(*(i.rpartition("-")[::2] for i, _, _ in events), strict=True)
    assert len(set(streams)) == 1
    assert [int(n) for n in numbers] == list(range(1, len(events) + 1))
    assert all(name == payload["type"] for _, name, payload in events)
    types = [name for _, name, _ in events]
    assert types[0] == "status" and types[-1] == "done"
    assert types.count("done") == 1 and "error" not in types
    first_token = types.index("token")
    assert all(t != "source" for t in types[first_token:])
    assert types[first_token - 1] == "ttft"
    return types, events[-1][2]


def tokens_of(events):
    return [p["content"] for _, t, p in events if t == "token"]


def of_type(events, name):
    """The payloads of the events of one type, in order."""
    return [payload for _, t, payload in events if t == name]


async def engine_metric(url, name):
    """One of llama-server's Prometheus figures (``n_decode_total``, ``requests_processing``)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{url}/metrics")).raise_for_status().text
    line = next(x for x in text.splitlines() if x.startswith(f"llamacpp:{name} "))
    return float(line.split()[1])


async def assert_engine_goes_idle(url, message, within_s=15):
    """Wait until llama-server runs no request; the deadline only catches a hang."""
    deadline = asyncio.get_running_loop().time() + within_s
    while await engine_metric(url, "requests_processing") > 0:
        assert asyncio.get_running_loop().time() < deadline, message
        await asyncio.sleep(0.05)


async def model_request_ended(record, within_s=15.0):
    """The scripted model's latest request, once it ended; only a hang runs out the time."""
    deadline = time.monotonic() + within_s
    while record.calls[-1].ended is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return record.calls[-1]


def scripted_app(kb_settings, embeddings, base_url, **settings):
    update = {"llm_base_url": base_url, "llm_model": "scripted", **settings}
    return create_app(kb_settings.model_copy(update=update), embeddings=embeddings)


CLI = Path(sys.executable).with_name("streaming-rag")


def start_serve(tmp_path, log_name="serve.log", args=(), **env):
    """Start `streaming-rag serve` (and ``args``) with ``RAG_*`` settings; wait until it answers."""
    port = free_port()
    environ = {
        **os.environ,
        "RAG_PORT": str(port),
        "RAG_CHROMA_PATH": str(tmp_path / "chroma"),
        **{f"RAG_{k.upper()}": str(v) for k, v in env.items()},
    }
    with (tmp_path / log_name).open("w") as log:
        process = subprocess.Popen([str(CLI), "serve", *args], env=environ, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (tmp_path / log_name).read_text()
        try:
            if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("serve did not start")


class ConnectionCutter:
    """A TCP proxy in front of an app that cuts the first answer stream mid-way.

    A fault injector: once the response to the first ``POST /rag/sse`` has carried
    ``tokens`` token events, both sides of that connection are closed, as a network drop
    would. Every other connection (static files, the resume) passes through untouched.
    """

    def __init__(self, target_port, *, tokens=5):
        self.target_port, self.tokens = target_port, tokens
        self.cuts = 0
        self.opened = []  # every socket it made, so close() leaves none to the collector
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.opened.append(client)
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:  # the app is gone: refuse this connection as it would
                _close(client)
                continue
            self.opened.append(upstream)
            state = {"answer": False, "seen": b""}
            pumps = [(self._requests, client, upstream), (self._responses, upstream, client)]
            for pump, source, sink in pumps:
                threading.Thread(target=pump, args=(source, sink, state), daemon=True).start()

    def _requests(self, client, upstream, state):
        while data := _recv(client):
            if data.startswith(b"POST /rag/sse") and self.cuts == 0:
                state["answer"] = True
            upstream.sendall(data)
        _close(client, upstream)

    def _responses(self, upstream, client, state):
        while data := _recv(upstream):
            if state["answer"]:
                state["seen"] += data
                if state["seen"].count(b"event: token") >= self.tokens and self.cuts == 0:
                    self.cuts += 1
                    _close(client, upstream)
                    return
            client.sendall(data)
        _close(client, upstream)

    def close(self):
        """Stop listening and close every connection, kept-alive ones included."""
        self.listener.close()
        _close(*self.opened)


def _recv(sock):
    try:
        return sock.recv(65536)
    except OSError:
        return b""


def _close(*socks):
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


UI_STREAM_CLIENT = Path(__file__).with_name("ui_stream_client.mjs")
"""Reads ``POST /ui/chat`` with the ``ai`` package pinned in ``examples/``."""
EXAMPLES = Path("examples")


def user(text, message_id="u1"):
    return {"id": message_id, "role": "user", "parts": [{"type": "text", "text": text}]}


async def ai_sdk_chat(url, messages, body=None):
    """What the AI SDK client read: the stream's header, its chunks, the final message."""
    node = shutil.which("node")
    assert node, "node is missing: make test installs it with npm"
    assert (EXAMPLES / "node_modules" / "ai").is_dir(), "run make install-test (npm ci)"
    arguments = [f"{url}/ui/chat", json.dumps(messages), json.dumps(body or {})]
    run = await asyncio.to_thread(
        subprocess.run,
        [node, "--input-type=module", "-", *arguments],
        input=UI_STREAM_CLIENT.read_text(),
        cwd=EXAMPLES,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)
