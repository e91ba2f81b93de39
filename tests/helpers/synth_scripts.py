"""A scripted "model" for synthesis tests: answers every prompt of synth/prompts deterministically.

Seeds are toy additions ("What is 3 + 4?"), so the scripted solver can compute the right answer for
forward questions and for FOBAR / self-verification backward questions (X = total - other operand).
``wrong_for`` makes the solver answer wrongly on questions containing one of its strings (to exercise
ground-truth filtering); ``xwin_incorrect_first`` makes the verifier reject the first version of every
generated problem (to exercise correction).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_NUM = re.compile(r"-?\d+(?:\.\d+)?")


def toy_seeds(n: int, start: int = 1) -> list[dict[str, Any]]:
    return [{"id": f"toy/{i}", "source": "toy", "problem": f"What is {i} + {i + 10}?", "answer": str(2 * i + 10),
             "level": 4, "subject": "toy"} for i in range(start, start + n)]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def solve_toy(question: str) -> str:
    nums = [float(v) for v in _NUM.findall(question)]
    if "unknown variable X" in question and len(nums) >= 2:
        return _fmt(nums[-1] - nums[0])
    return _fmt(sum(nums[:2])) if nums else "0"


class ScriptedModel:
    """Callable responder for :class:`skymath_tasks.devtools.openai_server.FakeOpenAIServer`."""

    def __init__(self, wrong_for: Iterable[str] = (), xwin_incorrect_first: bool = False,
                 no_marker_for: Iterable[str] = ()):
        self.wrong_for = tuple(wrong_for)
        self.no_marker_for = tuple(no_marker_for)
        self.xwin_incorrect_first = xwin_incorrect_first

    def __call__(self, req: dict[str, Any]) -> str:
        msgs = req["messages"]
        system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else ""
        user = msgs[-1]["content"]
        if "Prompt Rewriter" in system:  # evol
            given = user.split("#Given Problem#:", 1)[1].split("#New Problem#:", 1)[0].strip()
            return f"{given} Explain each step."
        if "rephrase math problems" in system:
            q = user.split("Question:", 1)[1].rsplit("Rephrase the above question:", 1)[0].strip()
            return f"Compute this: {q}"
        if "backward question" in system:
            q = user.split("Question:", 1)[1].split("\nAnswer:", 1)[0].strip()
            ans = user.rsplit("Answer:", 1)[1].strip()
            return f"{q} Its value is {ans}. What is the value of unknown variable X?"
        if "write new math problems" in system:
            seed = user.split("Seed problem:", 1)[1].strip()
            nums = [int(float(v)) for v in _NUM.findall(seed)]
            a, b = (nums + [1, 2])[:2]
            return f"What is {a + 1} + {b + 1}?"
        if "check math problems" in system:
            if self.xwin_incorrect_first and "(fixed)" not in user:
                return "Step 1: the numbers are fine.\nStep 2: the question is ambiguous.\nVerdict: incorrect"
            return "Step 1: all quantities are defined.\nStep 2: one answer.\nVerdict: correct"
        if "repair math problems" in system:
            q = user.split("Problem:", 1)[1].split("Verification notes:", 1)[0].strip()
            return f"{q} (fixed)"
        # the solver
        ans = solve_toy(user)
        if any(w in user for w in self.wrong_for):
            ans = ans + "1"
        if any(w in user for w in self.no_marker_for):
            return f"Adding the numbers gives {ans}."
        return f"We add the two numbers carefully.\nThe result is {ans}.\nThe answer is {ans}"
