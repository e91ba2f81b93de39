"""Safety: no input runs code, no input takes longer than twice the limit, a bad worker is replaced."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from skymath_tasks.grader import GraderConfig, clear_cache, equivalent
from skymath_tasks.grader.engine import symbolic_compare
from skymath_tasks.grader.pool import WorkerPool, get_pool
from skymath_tasks.scoring import grade

LIMIT = 1.0
CFG = GraderConfig(timeout_s=LIMIT)

PAYLOADS = [
    "__import__('os').system('touch {flag}')",
    "\\text{__import__('os').system('touch {flag}')}",
    "(lambda: __import__('os').system('touch {flag}'))()",
    "eval(\"__import__('os').system('touch {flag}')\")",
    "exec('import os; os.system(\"touch {flag}\")')",
    "x + __import__('subprocess').call(['touch','{flag}'])",
    "getattr(__builtins__, 'ex'+'ec')('open(\"{flag}\",\"w\")')",
    "\\frac{__import__('os').system('touch {flag}')}{1}",
    "2^{__import__('os').system('touch {flag}')}",
    "\\operatorname{__import__}('os').system('touch {flag}')",
    "{flag}",
]

PATHOLOGICAL = [
    "10^{10^{10^{10}}}", "9^{9^{9^{9}}}", "2^{2^{2^{2^{2^{2}}}}}", "10^{100000}", "(10^{1000})^{1000}",
    "100000!", "(100!)!", "(" * 500 + "1" + ")" * 500, "\\frac{1}{" * 300 + "1" + "}" * 300,
    "\\sqrt{" * 200 + "2" + "}" * 200, "1+" * 50000 + "1", "x" * 100_000, "9" * 5000,
    "((x+1)^{2}-1)^{500}", "((x+y+1)^{2}-1)^{300}", "((10^{1000})^{1000})^{1000}", "\\{" * 100 + "1" + "\\}" * 100,
    ",".join(["1"] * 5000), "\\begin{pmatrix}" + "\\\\".join(["1&2"] * 400) + "\\end{pmatrix}",
    # the word-after-number reader, the arithmetic evaluator, the chain checker, boxed runs, labels
    "5 " + "abcd " * 20000, "5" + "\\text{ cm}" * 5000, "5 " + "square " * 3000 + "feet", "1" + "+1" * 199,
    "2" + "^{2}" * 100, "(" * 40 + "2" + ")" * 40 + "^{999}", "x" + " = 1" * 3000, "=" * 5000,
    "\\boxed{1}" + ", \\boxed{1}" * 3000, "\\boxed{1}" + " " * 50000 + "\\boxed{2}",
    "|" + "A" * 5000 + "|", "(" + ",".join("p" * 3000) + ")", "1 \\le |z| \\le " + "9" * 59,
    "$$" + "1\n" * 10000, "\\[" + "\n" * 10000, "12:34:56" * 500, "\\in " * 3000,
]


@pytest.fixture(scope="module", autouse=True)
def warm_pool():
    get_pool(CFG.memory_mb, CFG.spares).warmup()
    yield


def test_payloads_never_run(tmp_path: Path) -> None:
    flag = tmp_path / "pwned"
    for template in PAYLOADS:
        payload = template.replace("{flag}", str(flag))
        for gold in ("5", "x", "0"):
            for mode in ("strict", "flexible", "metamath"):
                grade(f"Step.\nThe answer is: {payload}", gold, task="math", mode=mode, config=CFG)
            equivalent(payload, gold, "math", CFG)  # through the worker pool
            symbolic_compare(payload, gold)  # and in this very process, no isolation
    assert not flag.exists(), "a grading input executed code"


def test_converter_never_parses_text_as_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """latex2sympy2_extended must not reach parse_expr (sympify(str) goes through it too)."""
    import sympy.parsing.sympy_parser as sp
    from latex2sympy2_extended import latex2sympy2 as l2s

    calls: list[str] = []

    def spy(text, *a, **k):
        calls.append(str(text))
        raise AssertionError("parse_expr called")

    monkeypatch.setattr(sp, "parse_expr", spy)
    monkeypatch.setattr(l2s, "parse_expr", spy)
    inputs = ["\\frac{1}{2}+\\frac{\\sqrt{2}}{4}", "1.5e3", "0.333", "1,000", "24\\%", "x^2+2x+1", "\\binom{8}{2}",
              "5!", "2^{1/3}", "(1,2)", "\\{1,2\\}", "[1,3)", "\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\pi",
              "\\sin 60^\\circ", "3+4i", "x \\le 3"] + [p.replace("{flag}", "/nonexistent/f") for p in PAYLOADS]
    for text in inputs:
        symbolic_compare(text, "\\frac{2+\\sqrt{2}}{4}")
    assert calls == []


def test_pathological_inputs_are_bounded() -> None:
    slow = []
    for text in PATHOLOGICAL:
        for pred, gold in ((text, "1"), ("1", text), (text, text + "+1")):
            clear_cache()
            t0 = time.monotonic()
            v = grade(f"The answer is {pred}", gold, task="math", config=CFG)
            took = time.monotonic() - t0
            if took > 2 * LIMIT:
                slow.append((pred[:40], gold[:40], round(took, 2), v.tier))
            assert v.correct is False
    assert slow == [], slow


def test_pathological_responses_are_bounded() -> None:
    """Whole responses built to make the extractor slow: many markers, quotes, newlines, closings."""
    responses = [
        "The answer is 1" + "\n" * 200_000 + "Thanks",
        "'The answer is 1' " * 20_000,
        ("The answer is: 5\n" + " " * 50_000 + "\n") * 3,
        "The answer is " + "$$" * 30_000,
        "The answer is 5" + "\nI hope it is correct" * 20_000 + "\n6",
        "\\boxed{" * 30_000,
    ]
    for resp in responses:
        for mode in ("strict", "flexible"):
            clear_cache()
            t0 = time.monotonic()
            v = grade(resp, "6", task="math", mode=mode, config=CFG)
            assert time.monotonic() - t0 <= 2 * LIMIT, (resp[:40], mode)
            assert v.correct is False


def test_a_real_sympy_hang_is_killed_and_the_run_goes_on() -> None:
    # passes every static cap; proving it needs expanding two degree-600 polynomials in x and y
    pred, gold = "((x+1)(y+2))^{300}", "(xy+2x+y+2)^{300}"
    clear_cache()
    t0 = time.monotonic()
    v = grade(f"The answer is {pred}", gold, task="math", config=CFG)
    took = time.monotonic() - t0
    assert v.correct is False and v.tier == "timeout" and "killed" in v.reason
    assert took <= 2 * LIMIT
    assert grade("The answer is \\sqrt{8}", "2\\sqrt{2}", task="math", config=CFG).correct


def test_timeouts_and_crashes_replace_the_worker() -> None:
    pool = WorkerPool(memory_mb=CFG.memory_mb, spares=2)  # two failures in a row: two warm spares
    try:
        pool.warmup()
        t0 = time.monotonic()
        res = pool.run_many([{"op": "_sleep", "seconds": 30}, {"op": "ping"}, {"op": "_crash"}, {"op": "ping"}],
                            timeout_s=LIMIT)
        took = time.monotonic() - t0
        assert [r.tier for r in res] == ["timeout", "ping", "crash", "ping"]
        assert res[1].ok and res[3].ok and not res[0].ok and not res[2].ok
        assert pool.killed == 1 and pool.crashed >= 1
        assert took < 4 * LIMIT + 2
        # the memory cap is set in the worker and turns a huge allocation into MemoryError
        (lim,) = pool.run_many([{"op": "_limits"}], timeout_s=5)
        assert int(lim.reason) == CFG.memory_mb * 1024 * 1024
        (alloc,) = pool.run_many([{"op": "_alloc", "mb": CFG.memory_mb * 2}], timeout_s=5)
        assert alloc.reason == "MemoryError" or alloc.tier == "crash"
        (after,) = pool.run_many([{"op": "ping"}], timeout_s=5)
        assert after.ok
    finally:
        pool.shutdown()


def test_pool_is_shared_not_spawned_per_item() -> None:
    pool = get_pool(CFG.memory_mb, CFG.spares)
    started = pool.started
    for k in range(30):
        clear_cache()
        assert equivalent(f"\\sqrt{{{4 * (k + 2) ** 2}}}", f"{2 * (k + 2)}", "math", CFG).equal
    assert pool.started == started  # every item reused the warm workers


def test_deterministic() -> None:
    pairs = [("\\frac{1}{2}+\\frac{\\sqrt{2}}{4}", "\\frac{2+\\sqrt{2}}{4}"), ("x^2+2x+1", "(x+1)^2"),
             ("2\\sqrt{3}+1", "\\sqrt{12}"), ("3z-x=0", "x-3z=0"), ("\\sin 60^\\circ", "\\frac{\\sqrt3}{2}")]
    runs = []
    for _ in range(2):
        clear_cache()
        runs.append([equivalent(p, g, "math", CFG) for p, g in pairs])
    assert runs[0] == runs[1]
