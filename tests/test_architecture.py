"""The import graph flows one way (docs/architecture.md), and lm-eval is never patched.

Every module of skymath_tasks, task_configs, synth, training and bench is parsed (not imported) and
each ``import`` / ``from ... import`` statement, at any depth (function-level imports included), is
checked against the layer rules:

* within skymath_tasks: core <- grading <- evaluation <- report (an import may only go down or sideways);
* nothing under skymath_tasks/ or task_configs/ imports synth or training;
* synth and training do not import the report layer;
* nothing outside tests/ imports tests.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCANNED = ("skymath_tasks", "task_configs", "synth", "training", "bench")

#: layer of every skymath_tasks module (a package prefix covers its submodules); order = rank
LAYERS: dict[str, tuple[str, ...]] = {
    "core": ("skymath_tasks.benchmarks", "skymath_tasks.prompts", "skymath_tasks.jsonl_io",
             "skymath_tasks.cli_options", "skymath_tasks.demo_model", "skymath_tasks.gguf_export"),
    # the package root re-exports extract_answer / score lazily, so it sits with grading
    "grading": ("skymath_tasks.__init__", "skymath_tasks.extract", "skymath_tasks.metamath", "skymath_tasks.grader",
                "skymath_tasks.scoring", "skymath_tasks.gold", "skymath_tasks.metrics"),
    "evaluation": ("skymath_tasks.data", "skymath_tasks.distractors", "skymath_tasks.task_hooks", "task_configs",
                   "skymath_tasks.number_twins", "skymath_tasks.leakage_probes"),
    "report": ("skymath_tasks.report", "skymath_tasks.demo"),
}
RANK = {name: i for i, name in enumerate(LAYERS)}
#: test doubles shared by tests and benchmarks: they may use the core only
DEVTOOLS = "skymath_tasks.devtools"


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> list[tuple[str, Path]]:
    out = []
    for top in SCANNED:
        for path in sorted((REPO / top).rglob("*.py")):
            if "__pycache__" not in path.parts:
                out.append((_module_name(path), path))
    return out


def _imports(name: str, path: Path) -> list[tuple[str, int]]:
    """Absolute names imported by the module (relative imports resolved), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
            # "from skymath_tasks import report" imports the submodule
            out += [(f"{mod}.{alias.name}", node.lineno) for alias in node.names if alias.name != "*"]
    return out


def _layer(module: str) -> str | None:
    if module == "skymath_tasks":
        module = "skymath_tasks.__init__"
    best: tuple[int, str] | None = None
    for layer, prefixes in LAYERS.items():
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[0]:
                    best = (len(p), layer)
    return best[1] if best else None


def _is(module: str, top: str) -> bool:
    return module == top or module.startswith(top + ".")


def _known_module(module: str) -> bool:
    """Does ``module`` name a module or package of ours (not an attribute imported with from)?"""
    path = REPO / Path(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_every_skymath_module_has_a_layer() -> None:
    missing = [name for name, _ in _modules()
               if _is(name, "skymath_tasks") and not _is(name, DEVTOOLS) and _layer(name) is None]
    missing += [name for name, _ in _modules() if _is(name, "task_configs") and _layer(name) is None]
    assert not missing, f"add these modules to LAYERS in {Path(__file__).name} (and docs/architecture.md): {missing}"


def _violations(name: str, where: str, imports: list[tuple[str, int]]) -> list[str]:
    """What is wrong with module ``name`` importing ``imports`` (``where`` names its file in messages)."""
    problems = []
    for target, line in imports:
        if not target:
            continue
        if _is(target, "tests") and not _is(name, "tests"):
            problems.append(f"{where}:{line}: imports {target} (only tests may import tests)")
        if (_is(name, "skymath_tasks") or _is(name, "task_configs")) and (_is(target, "synth") or _is(target, "training")):
            problems.append(f"{where}:{line}: evaluation code imports {target}")
        if (_is(name, "synth") or _is(name, "training")) and _layer(target) == "report":
            problems.append(f"{where}:{line}: {name} imports the report layer ({target})")
        if not (_is(target, "skymath_tasks") or _is(target, "task_configs")) or not _known_module(target):
            continue
        if _is(name, DEVTOOLS):
            if not _is(target, DEVTOOLS) and _layer(target) != "core":
                problems.append(f"{where}:{line}: devtools may use the core only, imports {target}")
            continue
        if _is(target, DEVTOOLS) and (_is(name, "skymath_tasks") or _is(name, "task_configs")):
            problems.append(f"{where}:{line}: package code imports the test doubles ({target})")
            continue
        src, dst = _layer(name), _layer(target)
        if src is not None and dst is not None and RANK[dst] > RANK[src]:
            problems.append(f"{where}:{line}: {src} module {name} imports {dst} module {target} (upward)")
    return problems


def test_imports_flow_one_way() -> None:
    problems = []
    for name, path in _modules():
        problems += _violations(name, str(path.relative_to(REPO)), _imports(name, path))
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_the_checker_sees_an_upward_import(tmp_path) -> None:
    """The rules above fire on planted violations (so a passing test means something)."""
    fake = tmp_path / "benchmarks.py"
    fake.write_text("def f():\n    from skymath_tasks.report import tables\nfrom synth import decontam\n"
                    "import tests.helpers\nfrom skymath_tasks.prompts import build_prompt\n")
    problems = _violations("skymath_tasks.benchmarks", "benchmarks.py", _imports("skymath_tasks.benchmarks", fake))
    assert len(problems) == 5, problems  # report and synth (package and module each), tests; prompts is fine
    assert any("core module skymath_tasks.benchmarks imports report module skymath_tasks.report.tables" in p
               for p in problems)
    assert _violations("synth.pipeline", "p.py", [("skymath_tasks.report.tables", 3)])
    assert _violations("bench.grader", "g.py", [("tests.helpers.replay_model", 1)])
    assert not _violations("synth.pipeline", "p.py", [("skymath_tasks.gold", 3), ("skymath_tasks.distractors", 4)])
    assert _violations("skymath_tasks.devtools.tiny_model", "t.py", [("skymath_tasks.scoring", 1)])
    assert _layer("skymath_tasks.grader.engine") == "grading" and _layer("task_configs.utils") == "evaluation"
    assert _layer("skymath_tasks") == "grading" and _layer("skymath_tasks.unknown_module") is None


def test_lm_eval_is_not_patched_by_importing_our_package() -> None:
    """Importing every SkyMath module and building our tasks leaves lm-eval's classes as lm-eval made them."""
    pytest.importorskip("lm_eval")
    import importlib

    from lm_eval.api.group import Group
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.tasks import TaskManager

    for name, _ in _modules():
        if _is(name, "skymath_tasks") and not name.endswith("__main__"):
            importlib.import_module(name)
    TaskManager(include_path=str(REPO / "task_configs"), include_defaults=False)
    for cls in (Group, TaskManager, ConfigurableTask):
        for attr, value in vars(cls).items():
            fn = getattr(value, "__func__", value)
            if callable(fn) and hasattr(fn, "__module__"):
                assert fn.__module__.startswith("lm_eval"), f"{cls.__name__}.{attr} comes from {fn.__module__}"
                assert not hasattr(fn, "__wrapped__") or fn.__module__.startswith("lm_eval"), attr
    assert Group.aggregate.__module__ == "lm_eval.api.group"
    assert Group.aggregate.__qualname__ == "Group.aggregate"
    assert "skymath_tasks_lm_eval_hook" not in sys.modules
