"""``streaming-rag eval``: deterministic measures of answers on an owner's own documents.

Every question is asked through the same event stream users get, and scored from the
events alone (sources and their ranks, citations, grounding, the decline, the times):
no judge model, so two runs on the same input give the same scores, and a CI job can
fail on them. ``questions`` reads the question file, ``metrics`` scores one answer and
sums a run up with bootstrap intervals, ``runner`` asks, ``gate`` holds thresholds,
``outputs`` writes the table, ``report.json`` and ``junit.xml``.
"""
