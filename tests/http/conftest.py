"""The scripted OpenAI-compatible server (``bench.scripted_llm``), served for one test.

It only forces what the real model cannot be made to do on demand: a slow, dying or
citing answer, or an exact token list to compare with what the client received.
"""

import pytest

from bench.scripted_llm import ScriptedLLM


@pytest.fixture
def scripted_llm(serve):
    record = ScriptedLLM()
    with serve(record.app()) as server:
        record.url = server.url
        yield record
