import httpx
import openai
import pytest
from pydantic import BaseModel, ValidationError

from chains.errors import (
    DocumentError,
    IndexingError,
    LocalModelServerError,
    StreamingRagError,
    UnreadableFileError,
    UnsupportedFileError,
    error_event_for,
)


def test_every_error_we_raise_shares_one_base():
    for cls in (LocalModelServerError, UnsupportedFileError, UnreadableFileError, IndexingError):
        assert issubclass(cls, StreamingRagError)
    assert issubclass(UnreadableFileError, DocumentError)


REQUEST = httpx.Request("POST", "http://llm/v1/chat/completions")


@pytest.mark.parametrize(
    ("exc", "code", "retryable"),
    [
        (openai.APITimeoutError(request=REQUEST), "llm_timeout", True),
        (openai.APIConnectionError(request=REQUEST), "llm_unavailable", True),
        (httpx.RemoteProtocolError("peer closed", request=REQUEST), "llm_unavailable", True),
        (
            openai.InternalServerError(
                "boom", response=httpx.Response(502, request=REQUEST), body=None
            ),
            "llm_error",
            True,
        ),
        (
            openai.BadRequestError("no", response=httpx.Response(400, request=REQUEST), body=None),
            "llm_rejected",
            False,
        ),
        (UnreadableFileError("a.pdf is not a readable PDF"), "bad_document", False),
        (KeyError("secret internals"), "internal", False),
    ],
)
def test_exceptions_map_to_codes_without_exception_text(exc, code, retryable):
    event = error_event_for(exc)
    assert (event.code, event.retryable) == (code, retryable)
    assert "secret" not in event.message and "boom" not in event.message


def test_document_errors_keep_their_reason_and_validation_errors_name_the_field():
    assert error_event_for(IndexingError("the store failed")).message == "the store failed"

    class Doc(BaseModel):
        content: str

    with pytest.raises(ValidationError) as info:
        Doc.model_validate({"content": 3})
    assert error_event_for(info.value).message == "content: Input should be a valid string"
