"""LCEL building blocks: store, embeddings, retriever, prompt, model, chains, ingestion."""

from chains.embeddings import build_embeddings
from chains.ingest import InputDocument, build_splitter, index_documents
from chains.llm import build_chat_model
from chains.rag import RagInput, RagOutput, build_rag_chain
from chains.retriever import ScoredRetriever
from chains.store import build_chroma_client, build_vector_store

__all__ = [
    "InputDocument",
    "RagInput",
    "RagOutput",
    "ScoredRetriever",
    "build_chat_model",
    "build_chroma_client",
    "build_embeddings",
    "build_rag_chain",
    "build_splitter",
    "build_vector_store",
    "index_documents",
]
