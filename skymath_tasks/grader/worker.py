"""Symbolic worker process: ``python -m skymath_tasks.grader.worker``.

Reads one JSON request per line on stdin, writes one JSON reply per line on stdout. It imports SymPy
and latex2sympy2_extended once, caps its own address space (``RLIMIT_AS``) and CPU time, and is killed
by the parent (:mod:`skymath_tasks.grader.pool`) when an item runs past its wall-clock limit.

Ops: ``compare`` (the real work) and two self-test ops used by the tests to exercise the kill and
crash paths without relying on a slow SymPy input: ``_sleep`` (sleeps), ``_crash`` (exits),
``_limits`` (reports RLIMIT_AS) and ``_alloc`` (tries to allocate; the cap turns it into MemoryError).
"""

from __future__ import annotations

import json
import os
import sys


def _limit_resources(memory_mb: int) -> None:
    try:
        import resource

        if memory_mb > 0:
            limit = memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # pragma: no cover - platform without rlimits
        pass


def _die_with_parent() -> None:
    """Linux: SIGKILL this worker when the grading process dies (a hung item must not outlive it)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def handle(req: dict) -> dict:
    op = req.get("op")
    if op == "compare":
        from skymath_tasks.grader.engine import symbolic_compare
        from skymath_tasks.grader.units import Context

        ok, tier, reason = symbolic_compare(req["pred"], req["gold"], req.get("max_items", 64),
                                            Context.from_job(req.get("ctx")))
        return {"id": req.get("id"), "ok": ok, "tier": tier, "reason": reason}
    if op == "_sleep":
        import time

        time.sleep(float(req.get("seconds", 1.0)))
        return {"id": req.get("id"), "ok": False, "tier": "selftest", "reason": "slept"}
    if op == "_crash":
        os._exit(3)
    if op == "_limits":
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        return {"id": req.get("id"), "ok": True, "tier": "selftest", "reason": str(soft)}
    if op == "_alloc":  # self-test of the memory cap: try to allocate `mb` MiB
        try:
            block = bytearray(int(req.get("mb", 1)) * 1024 * 1024)
            return {"id": req.get("id"), "ok": True, "tier": "selftest", "reason": str(len(block))}
        except MemoryError:
            return {"id": req.get("id"), "ok": False, "tier": "selftest", "reason": "MemoryError"}
    if op == "ping":
        return {"id": req.get("id"), "ok": True, "tier": "ping", "reason": ""}
    return {"id": req.get("id"), "ok": False, "tier": "error", "reason": f"unknown op {op!r}"}


def main() -> int:
    memory_mb = int(os.environ.get("SKYMATH_GRADER_MEMORY_MB", "2048"))
    _die_with_parent()
    # import the heavy modules before capping memory and before saying we are ready
    import sympy  # noqa: F401

    from skymath_tasks.grader import engine  # noqa: F401
    from skymath_tasks.grader.symbolic import _install_guards, to_sympy

    _install_guards()
    to_sympy("\\frac{1}{2}+x")  # warm the ANTLR parser
    _limit_resources(memory_mb)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        req: dict = {}
        try:
            req = json.loads(line)
            reply = handle(req)
        except MemoryError:
            reply = {"id": req.get("id"), "ok": False, "tier": "error", "reason": "memory limit"}
        except Exception as exc:  # a bug or a pathological input: report, keep serving
            reply = {"id": req.get("id"), "ok": False, "tier": "error",
                     "reason": f"{type(exc).__name__}: {exc}"[:200]}
        out.write(json.dumps(reply) + "\n")
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
