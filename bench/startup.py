"""What installing SkyMath adds to the start-up of every Python process in the environment.

A ``.pth`` file in site-packages runs at every interpreter start, whether or not the process ever uses
lm-eval (the old lm-eval hook cost 25-40 ms). This script builds two throw-away virtual environments
from the same interpreter, identical except that the second holds every start-up file the installed
``skymath`` distribution put at the top of site-packages (its ``.pth`` files and any top-level module
next to them, read from the distribution's RECORD), then runs ``python -X importtime -c pass`` in both,
interleaved, many times, and prints the difference (median and mean wall time, and the modules the
start-up imports).

    python bench/startup.py [--runs 300]

Prints figures; asserts nothing (the target, under 3 ms, is checked by reading them).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path


def startup_files() -> list[Path]:
    """Files of the installed skymath distribution that site.py may execute or import at start-up."""
    try:
        dist = distribution("skymath")
    except PackageNotFoundError:
        raise SystemExit("skymath is not installed in this environment") from None
    out = []
    for f in dist.files or []:
        if len(f.parts) == 1 and f.suffix in (".pth", ".py"):
            out.append(Path(dist.locate_file(f)))
    return out


def make_venv(root: Path, extra: list[Path]) -> Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    for f in extra:
        shutil.copy2(f, site / f.name)
    return python


def run_once(python: Path) -> tuple[float, set[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run([str(python), "-X", "importtime", "-c", "pass"], capture_output=True, text=True, check=True)
    elapsed = time.perf_counter() - t0
    modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    return elapsed, modules


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=300, help="runs per environment (interleaved; default 300)")
    args = ap.parse_args(argv)
    files = startup_files()
    print(f"interpreter: {sys.version.split()[0]} ({sysconfig.get_platform()})")
    print(f"start-up files of the installed skymath distribution: {[f.name for f in files] or 'none'}")
    with tempfile.TemporaryDirectory(prefix="skymath-startup-") as tmp:
        base = make_venv(Path(tmp) / "baseline", [])
        ours = make_venv(Path(tmp) / "with-skymath", files)
        for python in (base, ours):  # warm the page cache and the bytecode caches
            for _ in range(5):
                run_once(python)
        times: dict[str, list[float]] = {"baseline": [], "with-skymath": []}
        mods: dict[str, set[str]] = {"baseline": set(), "with-skymath": set()}
        for _ in range(args.runs):
            for name, python in (("baseline", base), ("with-skymath", ours)):
                elapsed, modules = run_once(python)
                times[name].append(elapsed)
                mods[name] |= modules
    for name, values in times.items():
        print(f"{name:>13}: median {1000 * statistics.median(values):7.2f} ms   mean {1000 * statistics.fmean(values):7.2f} ms"
              f"   (python -X importtime -c pass, {len(values)} runs)")
    d_med = 1000 * (statistics.median(times["with-skymath"]) - statistics.median(times["baseline"]))
    d_mean = 1000 * (statistics.fmean(times["with-skymath"]) - statistics.fmean(times["baseline"]))
    print(f"added by skymath's start-up files: median {d_med:+.2f} ms, mean {d_mean:+.2f} ms (target: under 3 ms)")
    extra = sorted(mods["with-skymath"] - mods["baseline"])
    print(f"modules imported at start-up only with skymath: {extra or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
