"""Make lm-eval find the SkyMath tasks without ``--include_path``.

lm-eval 0.4.13 discovers external tasks only through ``include_path``: it has no entry point and no
environment variable. This module is imported at interpreter start by ``skymath_lm_eval.pth`` and does
nothing but put a tiny finder on ``sys.meta_path``; processes that never import lm-eval pay for one
list lookup per import and import nothing else. When ``lm_eval.tasks.manager`` is first imported, the
finder lets it load normally and then wraps ``TaskManager.__init__`` so our ``task_configs`` directory
is indexed before any user ``include_path`` (so a user's own copy, e.g. ``--include_path
task_configs`` in a checkout, still overrides the installed one).

Set ``SKYMATH_DISABLE_LM_EVAL_HOOK=1`` to switch it off.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

_TARGET = "lm_eval.tasks.manager"


def skymath_task_dir() -> str | None:
    """Directory holding our task YAMLs, installed (inside the package) or in a source checkout."""
    spec = importlib.util.find_spec("skymath_tasks")
    if spec is None or not spec.origin:
        return None
    pkg_dir = os.path.dirname(spec.origin)
    for candidate in (os.path.join(pkg_dir, "task_configs"), os.path.join(os.path.dirname(pkg_dir), "task_configs")):
        if os.path.isdir(candidate):
            return candidate
    return None


def _patch(module) -> None:
    manager_cls = getattr(module, "TaskManager", None)
    if manager_cls is None or getattr(manager_cls, "_skymath_patched", False):
        return
    original_init = manager_cls.__init__

    def __init__(self, *args, include_path=None, **kwargs):  # noqa: N807 - mirrors the wrapped method
        ours = skymath_task_dir()
        if ours is not None:
            if include_path is None:
                paths = []
            elif isinstance(include_path, (list, tuple)):
                paths = list(include_path)
            else:
                paths = [include_path]
            real = {os.path.realpath(str(p)) for p in paths}
            if os.path.realpath(ours) not in real:
                paths.insert(0, ours)
            include_path = paths
        original_init(self, *args, include_path=include_path, **kwargs)

    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    manager_cls.__init__ = __init__
    manager_cls._skymath_patched = True
    try:  # per-level group metrics (skymath_tasks/lm_eval_compat.py); never break lm-eval itself
        from skymath_tasks.lm_eval_compat import install as _install_compat

        _install_compat()
    except Exception as exc:  # pragma: no cover - only if skymath_tasks is broken or removed
        sys.stderr.write(f"skymath: could not install lm-eval group-level fixes: {exc}\n")


class _Loader(importlib.abc.Loader):
    def __init__(self, inner):
        self._inner = inner

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        _patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path.remove(self)  # one shot: find the real spec with the remaining finders
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    if os.environ.get("SKYMATH_DISABLE_LM_EVAL_HOOK") == "1":
        return
    if _TARGET in sys.modules:  # imported before us (unusual): patch in place
        _patch(sys.modules[_TARGET])
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
