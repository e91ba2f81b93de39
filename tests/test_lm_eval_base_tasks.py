"""lm-eval's own generic task checks (``BaseTasks`` of its tests/test_tasks.py) on every SkyMath task.

Runs ``bench/lm_eval_task_checks.py`` when ``LM_EVAL_SRC`` names an lm-eval checkout (or a bare git
directory of one); lm-eval's test code is read from there at run time, never copied into this repo.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

LM_EVAL_SRC = os.environ.get("LM_EVAL_SRC")


@pytest.mark.skipif(not LM_EVAL_SRC, reason="set LM_EVAL_SRC to an lm-evaluation-harness checkout to run its BaseTasks")
def test_lm_evals_base_tasks_pass_on_every_skymath_task(shared_data) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "lm_eval_task_checks.py"), "--lm-eval-src", str(LM_EVAL_SRC),
         "--data-dir", str(shared_data)],
        capture_output=True, text=True, timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    summary = re.search(r"(\d+) passed", proc.stdout)
    assert summary and "failed" not in proc.stdout.splitlines()[-2], proc.stdout[-2000:]
