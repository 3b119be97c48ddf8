"""schemathesis against the running app's own ``/openapi.json``, every route included.

Every operation, LangServe's among them, gets generated requests (valid and not): no
5xx, no hang (each call has a timeout), and every documented response body matches its
schema. The scripted model server answers, so the streams end quickly; the writes go
to a collection of this module's own.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sse_helpers import scripted_app

from bench.scripted_llm import Script, ScriptedLLM

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def api_schema(serve, kb_settings, embeddings, tmp_path_factory):
    record = ScriptedLLM()
    record.script = Script(tokens=["A ", "short ", "answer [doc-001]."])
    settings = kb_settings.model_copy(update={"chroma_path": tmp_path_factory.mktemp("fuzz")})
    with serve(record.app()) as llm:
        record.url = llm.url
        with serve(scripted_app(settings, embeddings, record.base_url)) as server:
            yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_answers_generated_requests_without_5xx_and_as_documented(case):
    case.call_and_validate(
        checks=[not_a_server_error, response_schema_conformance], timeout=60
    )
