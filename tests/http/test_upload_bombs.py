"""Upload bombs against a real ``serve`` process while people are asking it questions.

The bombs (``bench.hostile_files``, generated here) are sent at once with three
questions to the real model server. Pass: each bomb ends as a clear 4xx or as its
file's ``doc_error`` naming what stopped it; the API process's memory stays within
:data:`MEMORY_BOUND_MB` of its size before; every answer completes; a name that climbs
out of its folder writes nothing outside; no 5xx. ``make bench`` (section 20) reports
the time each takes to be refused.
"""

import asyncio
import json
import re
import socket
import uuid
from pathlib import Path

import httpx
import psutil
import pytest
from httpx_sse import EventSource
from sse_helpers import assert_well_formed_answer, read_events, start_serve

from app.settings import LOCAL_MODEL_ALIAS
from bench.harness import PeakRss
from bench.hostile_files import BOMBS

pytestmark = pytest.mark.anyio

LIMITS = {"parse_timeout_s": 20, "parse_cpu_s": 5, "parse_memory_mb": 256}
MEMORY_BOUND_MB = 200
"""How much the API process may grow while the bombs and questions run."""
STOPPED = re.compile(
    r"needs more than \d+ (MB of memory|s of CPU) to read|took longer than [\d.]+ s to read"
    r"|is not a readable PDF"
)
QUESTIONS = [
    "What is time to first token?",
    "How are documents split into chunks?",
    "What are server-sent events?",
]


async def upload(client, files=(), *, raw_name=None):
    """An upload's stream as its payloads; a refused upload as its status code.

    ``raw_name`` sends one file under exactly those bytes: httpx would percent-encode a
    NUL in a file name, as browsers do, and the server must cope with clients that don't.
    """
    if raw_name is None:
        multipart = [("files", (n, data, "application/octet-stream")) for n, data in files]
        request = {"files": multipart}
    else:
        body = (
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="%s"\r\n'
            b"Content-Type: text/markdown\r\n\r\n# NUL\n\nA name with a NUL.\r\n--b--\r\n"
            % raw_name
        )
        request = {"content": body, "headers": {"content-type": "multipart/form-data; boundary=b"}}
    async with client.stream("POST", "/index/files/sse", **request) as response:
        if response.status_code != 200:
            return response.status_code
        return [json.loads(sse.data) async for sse in EventSource(response).aiter_sse() if sse.data]


def status_of_huge_upload(url, size):
    """Announce an upload of ``size`` bytes, send its first megabyte, read the status.

    A server that refuses a body unread answers and closes while a client is still
    sending, which httpx reports as a read error; a raw socket reads the answer.
    """
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /index/files/sse HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode() + b"a" * (1 << 20))
        status_line = sock.makefile("rb").readline()
    return int(status_line.split()[1])


@pytest.mark.timeout(300)
async def test_upload_bombs_fail_alone_while_every_answer_completes(tmp_path, local_llm):
    process, url = start_serve(
        tmp_path,
        llm_base_url=f"http://127.0.0.1:{local_llm.port}/v1",
        llm_model=LOCAL_MODEL_ALIAS,
        llm_max_tokens=48,
        **LIMITS,
    )
    token = uuid.uuid4().hex
    climbers = [f"../../../../tmp/escape-{token}.md", f"/tmp/absolute-{token}.md"]
    bombs = {name: make() for name, make in BOMBS.items()}
    try:
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            warm = await read_events(url, json={"question": QUESTIONS[0]})
            assert_well_formed_answer(warm)
            assert (await upload(client, [("warm.md", b"# Warm\n\nA warm-up file.")]))[-1][
                "indexed"
            ] == 1
            memory = PeakRss(lambda: [psutil.Process(process.pid)])
            before = memory.peak
            answers = [read_events(url, json={"question": q}) for q in QUESTIONS]
            sent = [
                *(upload(client, [(name, data)]) for name, data in bombs.items()),
                asyncio.to_thread(status_of_huge_upload, url, 50 * 1024 * 1024),
                upload(client, [(name, b"# Climber\n\nIt stays put.") for name in climbers]),
                upload(client, raw_name=b"nul\x00.md"),
                upload(client, [(f"part{n}.txt", b"x") for n in range(10_000)]),
                upload(client, [(f"many{n}.txt", b"Many files.") for n in range(101)]),
            ]
            results = await asyncio.gather(*answers, *sent)
            peak = memory.close()
    finally:
        process.terminate()
        process.wait(timeout=60)

    for events in results[: len(QUESTIONS)]:
        assert_well_formed_answer(events)
    outcomes = dict(
        zip(
            [*bombs, "huge", "climbers", "nul", "parts", "many"],
            results[len(QUESTIONS) :],
            strict=True,
        )
    )
    for name in bombs:
        events = outcomes[name]
        errors = [e["error"] for e in events if e["type"] == "doc_error"]
        assert len(errors) == 1 and STOPPED.search(errors[0]), (name, events)
        assert name in errors[0]
        assert events[-1]["type"] == "pipeline_done" and events[-1]["failed"] == 1
    assert outcomes["huge"] == 413
    assert outcomes["parts"] == 400
    assert outcomes["many"] == 422
    stored = [e for e in outcomes["climbers"] if e["type"] == "doc_stage" and e["stage"] == "ready"]
    assert len(stored) == 2, outcomes["climbers"]
    nul = [e["error"] for e in outcomes["nul"] if e["type"] == "doc_error"]
    assert nul and "control character" in nul[0], outcomes["nul"]
    outside = [
        p for folder in (Path("/tmp"), Path.cwd(), tmp_path) for p in folder.glob(f"*{token}*")
    ]
    assert outside == []
    grown_mb = (peak - before) / 2**20
    assert grown_mb < MEMORY_BOUND_MB, f"the API process grew {grown_mb:.0f} MB"
