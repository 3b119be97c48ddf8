"""Run ``llama_cpp.server`` with llama.cpp's extra CPU weight buffers turned off.

``python -m app.llama_cpp_launcher ARGS`` is ``python -m llama_cpp.server ARGS`` with one
change. llama.cpp moves weights into "extra" CPU buffers when the CPU has a faster layout
for them: AMX tiles when the CPU reports AMX, interleaved repacks for Q4_0 and Q8_0. This
project's machines (2-core VMs whose CPU reports AMX) crash on the first decode in the
AMX path with SIGSEGV. Measured 2026-11-25 with the bundled Q4_1 model: every prompt,
even "Hello there", killed the process with the extra buffers on, and was answered with
them off. llama-cpp-python has no setting for llama.cpp's ``use_extra_bufts``, so this
launcher changes the default model parameters before the server reads them. For the
bundled Q4_1 file only the AMX path is lost; llama.cpp's repack paths do not cover Q4_1.
"""

from __future__ import annotations

import runpy

import llama_cpp.llama_cpp as llama_lib

_library_defaults = llama_lib.llama_model_default_params


def _defaults_without_extra_buffers() -> llama_lib.llama_model_params:
    """llama.cpp's default model parameters, with ``use_extra_bufts`` off."""
    params: llama_lib.llama_model_params = _library_defaults()
    params.use_extra_bufts = False
    return params


def main() -> None:
    """Start ``llama_cpp.server`` with this process's arguments."""
    llama_lib.llama_model_default_params = _defaults_without_extra_buffers
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
