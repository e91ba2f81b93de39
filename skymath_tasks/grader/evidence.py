"""Evidence sets for the grader and their precision/recall (used by tests and bench/grader_eval.py).

* our labelled set (``tests/data/grader_labelled.jsonl``): rows ``{id, task, subject, gold, response,
  label, category, formatted, note[, question]}``; ``label`` is what a careful person says about the
  response's final answer, ``formatted`` whether it states that answer after "The answer is" in math
  notation.
* our adversarial set (``tests/data/grader_adversarial.jsonl``): 248 "looks right, is wrong" and 82
  "looks odd, is right" responses, each with its question (README_adversarial.md).
* the peer-suite set (``tests/data/grader_peer_suites.jsonl``): (gold, prediction, label) pairs taken
  as data from other graders' test suites, each with its source and a reviewed label
  (README_peer_suites.md). How they are put to our protocol is :func:`load_peer_suites`.
* the GSM8K model solutions shipped with GSM8K (``gsm8k/example_model_solutions.jsonl``): 4 x 1319
  real responses with a human ``is_correct``; their final line ``A: n`` is rewritten to MetaMath's
  marker ``The answer is: n`` (with the colon, so the metamath criterion can read them too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from skymath_tasks.jsonl_io import iter_jsonl

SOLUTION_KEYS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


@dataclass(frozen=True)
class Case:
    id: str
    task: str
    gold: str
    response: str
    label: bool
    category: str = ""
    formatted: bool = True
    subject: str = ""
    #: the problem text, when the answer names one of its nouns ("3 apples")
    question: str | None = None
    #: where the case comes from (peer suites: the repository)
    source: str = ""
    #: prediction and gold exactly as the source has them (what math-verify is given); None: as above
    raw_prediction: str | None = None
    raw_gold: str | None = None


def load_labelled(path: str | Path) -> list[Case]:
    fields = ("id", "task", "gold", "response", "label", "category", "formatted", "subject")
    return [Case(**{k: row[k] for k in fields}, question=row.get("question")) for _, row in iter_jsonl(
        path, required=fields, types={"label": bool, "formatted": bool, "gold": str, "response": str})]


def load_adversarial(path: str | Path) -> list[Case]:
    fields = ("id", "task", "question", "gold", "response", "label", "category")
    return [Case(row["id"], row["task"], row["gold"], row["response"], row["label"], row["category"], True,
                 question=row["question"], source="adversarial")
            for _, row in iter_jsonl(path, required=fields,
                                     types={"label": bool, "gold": str, "response": str, "question": str})]


_MARKER_LAST_LINE = re.compile(r"The answer is[^\n]*\s*\Z", re.I)


def load_peer_suites(path: str | Path) -> list[Case]:
    """Peer-suite pairs put to our protocol, the way a model prompted as in the paper writes them.

    * A prediction that is a final answer (``prediction_kind == "answer"``) is what the model states
      after the marker: the response is ``The answer is: <prediction>``.
    * A prediction that is a whole response is given as it is. Strict counts it as formatted only
      when its last line is the marker's (``formatted``); the others are for flexible, which reads
      ``\\boxed{}`` and "final answer is".
    * A gold that holds a ``\\boxed{}`` (a worked solution) gives its last box, as our MATH tasks take
      the gold from a solution.
    math-verify gets prediction and gold exactly as the source has them.
    """
    from skymath_tasks.extract import last_boxed_run

    fields = ("id", "source", "task", "gold", "prediction", "prediction_kind", "label", "category")
    cases = []
    for _, row in iter_jsonl(path, required=fields, types={"label": bool, "gold": str, "prediction": str}):
        pred, gold = row["prediction"], row["gold"]
        if row["prediction_kind"] == "answer":
            response, formatted = "The answer is: " + pred, True
        else:
            response, formatted = pred, bool(_MARKER_LAST_LINE.search(pred))
        gold_answer = last_boxed_run(gold) if "\\boxed" in gold or "\\fbox" in gold else None
        cases.append(Case(row["id"], row["task"], gold_answer or gold, response, row["label"], row["category"],
                          formatted, source=row["source"], raw_prediction=pred, raw_gold=gold))
    return cases


def rewrite_final_line(solution: str) -> str:
    """``...\\nA: 18`` -> ``...\\nThe answer is: 18`` (the last line only; other solutions unchanged)."""
    lines = solution.rstrip().split("\n")
    m = re.match(r"^\s*A:\s*(.*)$", lines[-1])
    if m:
        lines[-1] = "The answer is: " + m.group(1).strip()
    return "\n".join(lines)


def load_gsm8k_solutions(shared: str | Path) -> list[Case]:
    shared = Path(shared)
    golds = [row["answer"].split("####")[-1].strip()
             for _, row in iter_jsonl(shared / "gsm8k" / "test.jsonl", required=("answer",))]
    cases = []
    for (lineno, row), gold in zip(iter_jsonl(shared / "gsm8k" / "example_model_solutions.jsonl",
                                              required=SOLUTION_KEYS), golds):
        for key in SOLUTION_KEYS:
            sol = row[key]
            cases.append(Case(f"gsm8k:{lineno}:{key}", "gsm8k", gold.replace(",", ""),
                              rewrite_final_line(sol["solution"]), bool(sol["is_correct"]), key, True))
    return cases


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    false_positives: list[str] = field(default_factory=list)

    def add(self, case: Case, predicted: bool) -> None:
        if predicted and case.label:
            self.tp += 1
        elif predicted:
            self.fp += 1
            self.false_positives.append(case.id)
        elif case.label:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def evaluate(cases: Iterable[Case], judge: Callable[[list[Case]], list[bool]]) -> Confusion:
    cases = list(cases)
    conf = Confusion()
    for case, verdict in zip(cases, judge(cases)):
        conf.add(case, verdict)
    return conf


def skymath_judge(mode: str, **kwargs) -> Callable[[list[Case]], list[bool]]:
    from skymath_tasks.scoring import grade_many

    def judge(cases: list[Case]) -> list[bool]:
        out: list[bool] = [False] * len(cases)
        for task in ("math", "gsm8k"):
            idx = [i for i, c in enumerate(cases) if c.task == task]
            grades = grade_many([cases[i].response for i in idx], [cases[i].gold for i in idx],
                                task=task, mode=mode, questions=[cases[i].question for i in idx],
                                **kwargs)  # type: ignore[arg-type]
            for i, g in zip(idx, grades):
                out[i] = g.correct
        return out

    return judge


def _delimited(text: str) -> str:
    """math-verify reads math inside delimiters: wrap a bare answer in ``$...$`` (as its tests do)."""
    if any(d in text for d in ("$", "\\(", "\\[", "\\boxed")):
        return text
    return "$" + text + "$"


def _mv_gold(c: Case) -> str:
    return _delimited(c.raw_gold if c.raw_gold is not None else c.gold)


def math_verify_judge(cases: list[Case]) -> list[bool]:
    """math-verify as its authors use it: ``parse`` the whole response and the gold, then ``verify``."""
    from math_verify import parse, verify

    out = []
    for c in cases:
        try:
            gold = parse(_mv_gold(c))
            pred = parse(_delimited(c.raw_prediction) if c.raw_prediction is not None else c.response)
            out.append(bool(verify(gold, pred)))
        except Exception:  # math-verify raises on inputs it cannot read: that is its "no"
            out.append(False)
    return out


def math_verify_on_extracted_judge(cases: list[Case]) -> list[bool]:
    """math-verify given our strict extraction (``$answer$``): its equivalence check alone."""
    from math_verify import parse, verify

    from skymath_tasks.extract import extract_answer

    out = []
    for c in cases:
        ans = extract_answer(c.response, task=c.task, mode="strict")  # type: ignore[arg-type]
        if ans is None:
            out.append(False)
            continue
        try:
            out.append(bool(verify(parse(_mv_gold(c)), parse("$" + ans + "$"))))
        except Exception:  # as above
            out.append(False)
    return out
