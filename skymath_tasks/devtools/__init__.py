"""Test doubles shared by the test suite and the benchmark scripts (bench/), shipped with the package.

* :mod:`~skymath_tasks.devtools.openai_server`: a real OpenAI-compatible HTTP server with scripted replies.
* :mod:`~skymath_tasks.devtools.tiny_model`: a tiny Llama and byte-level tokenizer built offline in seconds.

They depend on the core layer only (``docs/architecture.md``) and are never imported by package code.
"""
