"""Run lm-eval's own generic task checks (``BaseTasks`` of its ``tests/test_tasks.py``) on every SkyMath task.

lm-eval's CI runs ``BaseTasks`` against each task a pull request adds. Its test module parametrizes
itself at import time with lm-eval's default task (``arc_easy``, from the Hub), so it cannot be
imported offline as is. This script reads the class out of an lm-eval checkout instead (the
``BaseTasks`` class, its ``limit`` fixture and its imports, taken from the source at run time, never
copied into our repository), writes a pytest module that parametrizes it over our leaf tasks, runs
pytest on it and prints the pass count.

    python bench/lm_eval_task_checks.py --lm-eval-src ~/src/lm-evaluation-harness [--data-dir ../shared/data]

``--lm-eval-src`` is a checkout (``tests/test_tasks.py`` inside) or a bare git directory (read with
``git show <rev>:tests/test_tasks.py``); default ``$LM_EVAL_SRC``. MATH-zh has no public data: unless the
data folder holds ``math/test_zh.jsonl``, a stand-in made from MATH test (problems prefixed ``求解：``,
marked as such) is written into a temporary data folder next to links to the real files.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

UPSTREAM_FILE = "tests/test_tasks.py"


def upstream_source(src: Path, rev: str = "HEAD") -> str:
    """Text of lm-eval's tests/test_tasks.py from a checkout or a bare git directory."""
    if (src / UPSTREAM_FILE).is_file():
        return (src / UPSTREAM_FILE).read_text(encoding="utf-8")
    proc = subprocess.run(["git", f"--git-dir={src}", "show", f"{rev}:{UPSTREAM_FILE}"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{src}: neither a checkout with {UPSTREAM_FILE} nor a git directory ({proc.stderr.strip()})")
    return proc.stdout


def base_tasks_module(source: str) -> str:
    """The imports, the ``limit`` fixture and the ``BaseTasks`` class of lm-eval's test module, as source."""
    tree = ast.parse(source)
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)) and not (isinstance(node, ast.ImportFrom) and node.level):
            keep.append(node)
        elif isinstance(node, ast.FunctionDef) and node.name == "limit":
            keep.append(node)
        elif isinstance(node, ast.ClassDef) and node.name == "BaseTasks":
            keep.append(node)
    names = {getattr(n, "name", None) for n in keep}
    if "BaseTasks" not in names:
        raise SystemExit("lm-eval's tests/test_tasks.py has no BaseTasks class (layout changed?)")
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


RUNNER = '''

# --- SkyMath: parametrize lm-eval's BaseTasks over our tasks ---------------------------------------
from lm_eval.tasks import TaskManager as _TM

_TASKS = {tasks!r}
_MANAGER = _TM(include_path={task_dir!r}, include_defaults=False, metadata={{"data_dir": {data_dir!r}}})
_LOADED = list(_MANAGER.load(_TASKS)["tasks"].values())


@pytest.mark.parametrize("task_class", _LOADED, ids=lambda t: t.config.task)
class TestSkyMathTasks(BaseTasks):
    pass
'''


def leaf_tasks(task_dir: Path) -> list[str]:
    from lm_eval.tasks import TaskManager

    tm = TaskManager(include_path=str(task_dir), include_defaults=False)
    return sorted(t for t in tm.all_subtasks if t.startswith("skymath"))


def math_zh_standin(data_dir: Path, out: Path) -> Path:
    """A data folder linking the real files, plus a MATH-zh stand-in when there is no translation."""
    if (data_dir / "math" / "test_zh.jsonl").is_file():
        return data_dir
    out.mkdir(parents=True, exist_ok=True)
    for item in data_dir.iterdir():
        if item.name != "math":
            os.symlink(item, out / item.name)
    (out / "math").mkdir()
    for item in (data_dir / "math").iterdir():
        os.symlink(item, out / "math" / item.name)
    with open(data_dir / "math" / "test.jsonl", encoding="utf-8") as src, \
            open(out / "math" / "test_zh.jsonl", "w", encoding="utf-8") as dst:
        for line in src:
            row = json.loads(line)
            row["problem_en"], row["problem"] = row["problem"], "求解：" + row["problem"]
            row["translation_check"] = ["stand-in for the lm-eval task checks, not a translation"]
            dst.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lm-eval-src", default=os.environ.get("LM_EVAL_SRC"),
                    help="lm-eval checkout or bare git directory (default $LM_EVAL_SRC)")
    ap.add_argument("--rev", default="HEAD", help="revision to read from a git directory (default HEAD)")
    ap.add_argument("--data-dir", default=os.environ.get("SKYMATH_DATA_DIR") or str(REPO.parent / "shared" / "data"),
                    help="SkyMath data folder (default $SKYMATH_DATA_DIR, else ../shared/data)")
    ap.add_argument("--tasks", help="comma-separated task names (default: every SkyMath leaf task)")
    ap.add_argument("--junit-xml", help="also write pytest's JUnit XML here")
    args = ap.parse_args(argv)
    if not args.lm_eval_src:
        ap.error("--lm-eval-src (or $LM_EVAL_SRC) is required")
    task_dir = REPO / "task_configs"
    tasks = args.tasks.split(",") if args.tasks else leaf_tasks(task_dir)
    with tempfile.TemporaryDirectory(prefix="skymath-basetasks-") as tmp:
        data = math_zh_standin(Path(args.data_dir), Path(tmp) / "data")
        module = Path(tmp) / "test_lm_eval_base_tasks.py"
        module.write_text(base_tasks_module(upstream_source(Path(args.lm_eval_src), args.rev))
                          + RUNNER.format(tasks=tasks, task_dir=str(task_dir), data_dir=str(data)), encoding="utf-8")
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", tmp, str(module),
               "-o", "addopts=", "-W", "ignore::DeprecationWarning"]
        if args.junit_xml:
            cmd.append(f"--junit-xml={args.junit_xml}")
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
    tail = [line for line in proc.stdout.splitlines() if line.strip()]
    print("\n".join(tail[-40:]))
    print(f"lm-eval BaseTasks on {len(tasks)} SkyMath tasks: pytest exit code {proc.returncode}")
    if proc.returncode not in (0, 1):
        print(proc.stderr[-4000:], file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
