from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import LOCAL_MODEL_ALIAS, OPENAI_DEFAULT_MODEL, Settings


def test_settings_defaults_match_the_design_table(settings_factory):
    settings = settings_factory()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.chroma_path == Path("./data/chroma")
    assert settings.chroma_host is None and settings.chroma_port is None
    assert settings.collection == "streaming_rag"
    assert settings.embeddings == "local"
    assert settings.top_k == 4
    assert settings.queue_maxsize == 256
    assert settings.api_key is None
    assert settings.uses_local_llm
    assert settings.llm_model == LOCAL_MODEL_ALIAS
    assert settings.effective_llm_base_url == "http://127.0.0.1:8081/v1"


def test_settings_read_rag_prefixed_environment(monkeypatch):
    monkeypatch.setenv("RAG_PORT", "9001")
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_COLLECTION", "docs")
    monkeypatch.setenv("RAG_API_KEY", "s3cret")
    settings = Settings(_env_file=None)
    assert (settings.port, settings.top_k, settings.collection) == (9001, 7, "docs")
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "s3cret"


def test_settings_read_dotenv_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("RAG_TOP_K=9\nRAG_QUEUE_MAXSIZE=32\n")
    settings = Settings(_env_file=env_file)
    assert (settings.top_k, settings.queue_maxsize) == (9, 32)


def test_settings_with_openai_api_key_use_no_local_server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = Settings(_env_file=None)
    assert not settings.uses_local_llm
    assert settings.llm_model == OPENAI_DEFAULT_MODEL
    assert settings.effective_llm_base_url is None


def test_settings_with_openai_base_url_point_chat_model_there(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1/")
    settings = Settings(_env_file=None)
    assert not settings.uses_local_llm
    assert settings.effective_llm_base_url == "http://127.0.0.1:11434/v1"


def test_settings_rag_llm_base_url_wins_over_openai_base_url(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://a/v1")
    monkeypatch.setenv("RAG_LLM_BASE_URL", "http://b/v1")
    assert Settings(_env_file=None).llm_base_url == "http://b/v1"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"chroma_host": "localhost"}, "RAG_CHROMA_PORT"),
        ({"chroma_port": 8000}, "RAG_CHROMA_HOST"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 21}, "top_k"),
        ({"queue_maxsize": 0}, "queue_maxsize"),
        ({"chunk_size": 100, "chunk_overlap": 100}, "RAG_CHUNK_OVERLAP"),
        ({"embeddings": "openai"}, "OPENAI_API_KEY"),
        ({"embeddings": "cohere"}, "embeddings"),
    ],
)
def test_settings_with_invalid_values_name_the_setting(settings_factory, overrides, named):
    with pytest.raises(ValidationError, match=named):
        settings_factory(**overrides)


def test_local_model_path_must_be_an_existing_file(tmp_path):
    with pytest.raises(ValidationError, match="RAG_LOCAL_LLM_MODEL_PATH is not a file"):
        Settings(_env_file=None, local_llm_model_path=tmp_path / "missing.gguf")
    model = tmp_path / "mine.gguf"
    model.write_bytes(b"GGUF")
    settings = Settings(_env_file=None, local_llm_model_path=model)
    assert settings.local_llm_model_path == model and settings.local_llm_quant == "Q4_0"
