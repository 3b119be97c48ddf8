"""One retriever for every knowledge base: the RAG chain's search, ``kb`` chosen per call.

:class:`KnowledgeBaseRetriever` is how one RAG chain serves every knowledge base: it
takes ``kb`` per call, as the searches take ``k`` and ``filter``, and runs that
knowledge base's search in its own retriever run (so the sources are reported once).
"""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict

from chains.knowledge_bases import KnowledgeBases


class KnowledgeBaseRetriever(BaseRetriever):
    """One kind of search, over the knowledge base each call names with ``kb``.

    Example:
        >>> retriever = KnowledgeBaseRetriever(bases=kbs, search="widening")
        >>> await retriever.ainvoke("What is SSE?", k=4, kb="handbook")

    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    bases: KnowledgeBases
    search: Literal["widening", "hybrid"]

    def _pick(self, kb: str | None) -> BaseRetriever:
        retriever: BaseRetriever = getattr(self.bases.get(kb or ""), self.search)
        return retriever

    # The chosen search runs inside this retriever's run, with its run manager, so the
    # callback handler sees one retrieval and reports its sources once.
    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        kb: str | None = None,
        **options: Any,
    ) -> list[Document]:
        return self._pick(kb)._get_relevant_documents(query, run_manager=run_manager, **options)

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        kb: str | None = None,
        **options: Any,
    ) -> list[Document]:
        retriever = await run_in_executor(None, self._pick, kb)  # asks Chroma: no loop stall
        return await retriever._aget_relevant_documents(query, run_manager=run_manager, **options)
