"""Augmenters: how one seed problem becomes synthetic query-response pairs.

Each augmenter is a generator written as straight-line code: it *yields* the chat requests it needs
next and receives their replies (``None`` for a request that failed for good), and finally *returns*
its outcomes: accepted rows and rejections with a reason. The pipeline batches the yields of all seeds
into one resumable run per round. Because request ids are hashes of the messages, re-running a
generator against the response cache reproduces every step without sending anything again, which is
what makes the whole multi-step pipeline resumable.

Methods (paper, section 3.1):

* MetaMath (Yu et al., 2024): ``metamath_ansaug`` (resample answers, keep those matching the ground
  truth), ``metamath_rephrase`` (rephrase, then answer; ground-truth filtered), ``metamath_fobar``
  (mask a number with X, state the answer, ask for X; deterministic), ``metamath_sv`` (the model
  rewrites question + answer into a declarative statement asking for X). FOBAR and SV answers are
  checked against the masked number.
* Evol-Instruct (WizardLM): up to ``evol_max_steps`` chained evolutions, one of five strategies per
  step; a failed evolution ends the trajectory and is dropped; each surviving evolved problem is answered.
* Xwin-style question generation: generate a new problem from the seed, verify it step by step, correct
  it when the verdict is "incorrect" (re-verifying), then answer it.

Every response is normalised to ``<reasoning>\\nThe answer is X`` with the shared prompt module; a reply
without the marker, or cut by the token limit, is rejected with a reason; so is a refusal (a reply the
client classified as refused, or a short "I'm sorry, I can't ..." text).

Row ids (:func:`row_id`) are a hash of stage, seed, method and content (query and response), so two
seeds whose draws happen to produce the same text, or whose requests share one cached reply, still get
two ids, and the same row always gets the same id in every run.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from skymath_tasks.prompts import format_response
from synth.client import ChatRequest, request_id
from synth.prompts import load_template, render

Reply = dict[str, Any] | None  # a response row of synth.client (text, finish_reason, usage, model) or None
Outcome = dict[str, Any]  # an output row, or {"rejected": reason, ...}
AugmentGen = Generator[list[ChatRequest], list[Reply], list[Outcome]]

EVOL_STRATEGIES = ("rewrite", "add_constraints", "deepen", "concretize", "increase_reasoning")
METAMATH_METHODS = ("answer_aug", "rephrase", "fobar", "self_verification")

_MARKER_RE = re.compile(r"The answer is\s*:?", re.IGNORECASE)


@dataclass
class AugmentContext:
    """What every augmenter needs besides the seed: stage name, model, templates, knobs."""

    stage: str
    model: str
    round: int = 1  # recorded in rows; not part of request ids (an identical request in round 2 is a cache hit)
    rng_seed: int = 0
    prompt_dir: str | None = None
    answer_aug_samples: int = 1  # answers sampled per answer-augmentation draw
    evol_max_steps: int = 5  # the paper's maximum evolution length
    xwin_max_corrections: int = 1
    max_problem_chars: int = 4000
    params: dict[str, Any] = field(default_factory=dict)  # extra sampling params for every request

    def rng(self, *parts: Any) -> random.Random:
        # the stage is part of every random choice and request id: stage 2 re-draws from seeds that stage 1
        # also used (MATH level 4-5) and must get new samples, not copies of stage-1 rows
        h = hashlib.sha256(repr((self.rng_seed, self.stage, *parts)).encode()).digest()
        return random.Random(int.from_bytes(h[:8], "big"))

    def request(self, template: str, messages: list[dict[str, str]], *, sample: int = 0,
                meta: dict[str, Any] | None = None) -> ChatRequest:
        tf = load_template(template, self.prompt_dir)
        rid = request_id(self.model, self.stage, tf.version_tag, messages, self.params, sample)
        return ChatRequest(id=rid, messages=messages, params=dict(self.params),
                           meta={"template": tf.version_tag, **(meta or {})})

    def solve(self, question: str, *, sample: int = 0, meta: dict[str, Any] | None = None) -> ChatRequest:
        return self.request("solve", load_template("solve", self.prompt_dir).messages("solve", question=question),
                            sample=sample, meta=meta)

    def prompt_version(self, *templates: str) -> str:
        return "|".join(load_template(t, self.prompt_dir).version_tag for t in templates)


# ----------------------------------------------------------------------------------------------
# Response normalisation and row building
# ----------------------------------------------------------------------------------------------


def clean_answer(answer: str) -> str:
    """The bare final answer: ``$5$`` and ``\\boxed{5}`` around the whole answer become ``5`` (one format
    for all rows; the grader accepts both, SFT data should not teach both)."""
    from skymath_tasks.extract import last_boxed

    a = answer.strip()
    for _ in range(3):
        before = a
        if len(a) >= 2 and a.startswith("$") and a.endswith("$"):
            a = a.strip("$").strip()
        if a.startswith("\\boxed{") and a.endswith("}"):
            inner = last_boxed(a)
            if inner is not None and "\\boxed{" + inner + "}" == a:
                a = inner.strip()
        if a == before:
            break
    return a or answer.strip()


def split_answer(text: str) -> tuple[str, str] | str:
    """``(reasoning, answer)`` from a reply, or a rejection reason."""
    from skymath_tasks.extract import extract_marker

    answer = extract_marker(text)
    if answer is None:
        return "no_answer_marker"
    answer = clean_answer(answer)
    last = None
    for last in _MARKER_RE.finditer(text):
        pass
    assert last is not None
    reasoning = text[: last.start()].strip()
    if not reasoning:
        return "no_reasoning"
    return reasoning, answer


def rejection(reason: str, ctx: AugmentContext, seed: dict[str, Any], method: str, **extra: Any) -> Outcome:
    return {"rejected": reason, "stage": ctx.stage, "round": ctx.round, "method": method, "seed_id": seed["id"],
            **extra}


def row_id(stage: str, seed_id: str, method: str, query: str, response: str) -> str:
    """Deterministic row id: sha256 of stage, seed, method and content (never Python's ``hash()``), so ids
    are unique over all stage files of a run."""
    blob = json.dumps([stage, seed_id, method, query, response], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


_REFUSAL_TEXT = re.compile(r"^\W*(i'?m sorry|i am sorry|sorry,|i cannot|i can'?t|i'm unable|i am unable|as an ai)\b",
                           re.IGNORECASE)


def is_refusal(reply: Reply) -> bool:
    """A reply the client classified as refused (``refusal`` set), or a short text that declines."""
    if reply is None:
        return False
    if reply.get("refusal"):
        return True
    text = (reply.get("text") or "").strip()
    return len(text) < 300 and bool(_REFUSAL_TEXT.match(text)) and not _MARKER_RE.search(text)


def finalize(ctx: AugmentContext, seed: dict[str, Any], method: str, query: str, req: ChatRequest, reply: Reply,
             prompt_version: str, gold: str | None = None) -> Outcome:
    """One output row from an answer reply, or a rejection (with ground-truth check when ``gold``)."""
    if reply is None:
        return rejection("request_failed", ctx, seed, method, request_id=req.id)
    if is_refusal(reply):
        return rejection("refusal", ctx, seed, method, request_id=req.id, text=(reply.get("text") or "")[-300:])
    if reply.get("finish_reason") == "length":
        return rejection("truncated", ctx, seed, method, request_id=req.id)
    parsed = split_answer(reply.get("text") or "")
    if isinstance(parsed, str):
        return rejection(parsed, ctx, seed, method, request_id=req.id, text=(reply.get("text") or "")[-300:])
    reasoning, answer = parsed
    response = format_response(reasoning, answer)
    if gold is not None:
        from skymath_tasks import score

        if not score(response, gold, task="math", mode="strict"):
            return rejection("wrong_answer", ctx, seed, method, request_id=req.id, answer=answer, gold=gold)
    return {
        "id": row_id(ctx.stage, seed["id"], method, query, response),
        "stage": ctx.stage,
        "round": ctx.round,
        "method": method,
        "seed_id": seed["id"],
        # what selection needs without the seed file: select-hard reads `level`, reports group by source
        "seed_source": seed.get("source"),
        "level": seed.get("level"),
        "subject": seed.get("subject"),
        "query": query,
        "response": response,
        "answer": answer,
        "model": reply.get("model") or ctx.model,
        "prompt_version": prompt_version,
        "usage": reply.get("usage") or {},
        "request_id": req.id,
    }


def _clean_problem(text: str | None) -> str:
    t = (text or "").strip()
    for prefix in ("#New Problem#:", "New Problem:", "Rephrased question:", "Question:", "Problem:"):
        if t.lower().startswith(prefix.lower()):
            t = t[len(prefix):].strip()
    return t


def problem_failure(reply: Reply, previous: str, ctx: AugmentContext) -> str | None:
    """Why a generated problem is unusable (WizardLM-style elimination), or None."""
    if reply is None:
        return "request_failed"
    if reply.get("refusal"):
        return "refusal"
    if reply.get("finish_reason") == "length":
        return "truncated"
    new = _clean_problem(reply.get("text"))
    low = new.lower()
    if len(new) < 10:
        return "empty_problem"
    if " ".join(new.split()) == " ".join(previous.split()):
        return "no_change"
    if any(s in low for s in ("#given problem#", "#new problem#", "given problem", "rewritten problem",
                              "new problem:")):
        return "copied_prompt_words"
    if any(s in low for s in ("sorry", "as an ai", "i cannot", "i can't")):
        return "refusal"
    if len(new) > ctx.max_problem_chars:
        return "too_long"
    if _MARKER_RE.search(new):
        return "contains_answer"
    return None


# ----------------------------------------------------------------------------------------------
# MetaMath
# ----------------------------------------------------------------------------------------------

#: A number that is not part of a LaTeX command argument, sub/superscript or a longer token.
_MASKABLE_NUM = re.compile(r"(?<![\w.\\^_{])(\d+(?:\.\d+)?)(?![\w.]*[\w])")


def mask_number(question: str, rng: random.Random) -> tuple[str, str] | None:
    """Replace one number of the question with X (FOBAR / self-verification). None if impossible."""
    if re.search(r"\bX\b", question):
        return None  # X already means something in this problem
    cands = [m for m in _MASKABLE_NUM.finditer(question)]
    if not cands:
        return None
    m = rng.choice(cands)
    return question[: m.start()] + "X" + question[m.end():], m.group(1)


def has_gold(seed: dict[str, Any]) -> bool:
    return isinstance(seed.get("answer"), str) and bool(seed["answer"].strip())


def metamath_ansaug(seed: dict[str, Any], ctx: AugmentContext, draw: int = 0) -> AugmentGen:
    q = seed["problem"]
    reqs = [ctx.solve(q, sample=draw * 1000 + k, meta={"seed_id": seed["id"], "step": "answer"})
            for k in range(ctx.answer_aug_samples)]
    replies = yield reqs
    pv = ctx.prompt_version("solve")
    return [finalize(ctx, seed, "metamath_ansaug", q, r, rep, pv, gold=seed["answer"]) for r, rep in zip(reqs, replies)]


def metamath_rephrase(seed: dict[str, Any], ctx: AugmentContext, draw: int = 0) -> AugmentGen:
    tf = load_template("metamath", ctx.prompt_dir)
    req = ctx.request("metamath", tf.messages("rephrase", question=seed["problem"]), sample=draw,
                      meta={"seed_id": seed["id"], "step": "rephrase"})
    (reply,) = yield [req]
    why = problem_failure(reply, seed["problem"], ctx)
    if why:
        return [rejection(f"rephrase_{why}", ctx, seed, "metamath_rephrase", request_id=req.id)]
    q = _clean_problem(reply["text"])
    ans_req = ctx.solve(q, sample=draw, meta={"seed_id": seed["id"], "step": "answer"})
    (ans,) = yield [ans_req]
    return [finalize(ctx, seed, "metamath_rephrase", q, ans_req, ans, ctx.prompt_version("metamath", "solve"),
                     gold=seed["answer"])]


def metamath_fobar(seed: dict[str, Any], ctx: AugmentContext, draw: int = 0) -> AugmentGen:
    masked = mask_number(seed["problem"], ctx.rng("fobar", seed["id"], draw))
    if masked is None:
        return [rejection("no_maskable_number", ctx, seed, "metamath_fobar")]
    question, hidden = masked
    tf = load_template("metamath", ctx.prompt_dir)
    q = f"{question.rstrip()} {render(tf.data['fobar_suffix'], answer=seed['answer'].strip())}"
    req = ctx.solve(q, sample=draw, meta={"seed_id": seed["id"], "step": "answer"})
    (ans,) = yield [req]
    return [finalize(ctx, seed, "metamath_fobar", q, req, ans, ctx.prompt_version("metamath", "solve"), gold=hidden)]


def metamath_sv(seed: dict[str, Any], ctx: AugmentContext, draw: int = 0) -> AugmentGen:
    masked = mask_number(seed["problem"], ctx.rng("sv", seed["id"], draw))
    if masked is None:
        return [rejection("no_maskable_number", ctx, seed, "metamath_sv")]
    question, hidden = masked
    tf = load_template("metamath", ctx.prompt_dir)
    req = ctx.request("metamath", tf.messages("self_verification", question=question, answer=seed["answer"].strip()),
                      sample=draw, meta={"seed_id": seed["id"], "step": "self_verification"})
    (reply,) = yield [req]
    why = problem_failure(reply, question, ctx)
    if why:
        return [rejection(f"sv_{why}", ctx, seed, "metamath_sv", request_id=req.id)]
    q = _clean_problem(reply["text"])
    if "unknown variable x" not in q.lower():
        return [rejection("sv_no_backward_question", ctx, seed, "metamath_sv", request_id=req.id)]
    ans_req = ctx.solve(q, sample=draw, meta={"seed_id": seed["id"], "step": "answer"})
    (ans,) = yield [ans_req]
    return [finalize(ctx, seed, "metamath_sv", q, ans_req, ans, ctx.prompt_version("metamath", "solve"), gold=hidden)]


# ----------------------------------------------------------------------------------------------
# Evol-Instruct
# ----------------------------------------------------------------------------------------------


def evol_messages(ctx: AugmentContext, strategy: str, question: str) -> list[dict[str, str]]:
    tf = load_template("evol", ctx.prompt_dir)
    instruction = tf.prompt(strategy)["instruction"]
    return [{"role": "system", "content": tf.data["common_system"]},
            {"role": "user", "content": render(tf.data["user_template"], instruction=instruction, question=question)}]


def evol(seed: dict[str, Any], ctx: AugmentContext, draw: int = 0) -> AugmentGen:
    rng = ctx.rng("evol", seed["id"], draw)
    current = seed["problem"]
    evolved: list[tuple[str, str]] = []  # (problem, strategy path)
    path: list[str] = []
    outcomes: list[Outcome] = []
    for step in range(ctx.evol_max_steps):
        strategy = rng.choice(EVOL_STRATEGIES)
        req = ctx.request("evol", evol_messages(ctx, strategy, current), sample=draw,
                          meta={"seed_id": seed["id"], "step": f"evol{step + 1}:{strategy}"})
        (reply,) = yield [req]
        why = problem_failure(reply, current, ctx)
        if why:  # a failed evolution is dropped and ends the trajectory
            outcomes.append(rejection(f"evol_{why}", ctx, seed, "evol", request_id=req.id, step=step + 1))
            break
        current = _clean_problem(reply["text"])
        path.append(strategy)
        evolved.append((current, "+".join(path)))
    if not evolved:
        return outcomes
    reqs = [ctx.solve(q, sample=draw, meta={"seed_id": seed["id"], "step": "answer", "evol": p}) for q, p in evolved]
    replies = yield reqs
    pv = ctx.prompt_version("evol", "solve")
    outcomes += [finalize(ctx, seed, "evol", q, r, rep, pv) for (q, _), r, rep in zip(evolved, reqs, replies)]
    return outcomes


# ----------------------------------------------------------------------------------------------
# Xwin-style generation with self-verification and correction
# ----------------------------------------------------------------------------------------------

_VERDICT_RE = re.compile(r"verdict\s*:\s*\**\s*(correct|incorrect)\b", re.IGNORECASE)


def parse_verdict(text: str) -> str | None:
    found = _VERDICT_RE.findall(text or "")
    return found[-1].lower() if found else None


def xwin(seed: dict[str, Any], ctx: AugmentContext, draw: int = 0) -> AugmentGen:
    tf = load_template("xwin", ctx.prompt_dir)
    meta = {"seed_id": seed["id"]}
    req = ctx.request("xwin", tf.messages("generate", question=seed["problem"]), sample=draw,
                      meta={**meta, "step": "generate"})
    (reply,) = yield [req]
    why = problem_failure(reply, seed["problem"], ctx)
    if why:
        return [rejection(f"xwin_generate_{why}", ctx, seed, "xwin", request_id=req.id)]
    problem = _clean_problem(reply["text"])
    corrections = 0
    while True:
        vreq = ctx.request("xwin", tf.messages("verify", question=problem), sample=draw, meta={**meta, "step": "verify"})
        (vrep,) = yield [vreq]
        if vrep is None:
            return [rejection("xwin_verify_request_failed", ctx, seed, "xwin", request_id=vreq.id)]
        if vrep.get("refusal"):
            return [rejection("xwin_verify_refusal", ctx, seed, "xwin", request_id=vreq.id)]
        verdict = parse_verdict(vrep.get("text", ""))
        if verdict is None:
            return [rejection("xwin_no_verdict", ctx, seed, "xwin", request_id=vreq.id)]
        if verdict == "correct":
            break
        if corrections >= ctx.xwin_max_corrections:
            return [rejection("xwin_failed_verification", ctx, seed, "xwin", request_id=vreq.id)]
        creq = ctx.request("xwin", tf.messages("correct", question=problem, verification=vrep["text"]),
                           sample=draw, meta={**meta, "step": "correct"})
        (crep,) = yield [creq]
        why = problem_failure(crep, problem, ctx)
        if why:
            return [rejection(f"xwin_correct_{why}", ctx, seed, "xwin", request_id=creq.id)]
        problem = _clean_problem(crep["text"])
        corrections += 1
    areq = ctx.solve(problem, sample=draw, meta={**meta, "step": "answer"})
    (ans,) = yield [areq]
    return [finalize(ctx, seed, "xwin", problem, areq, ans, ctx.prompt_version("xwin", "solve"))]


# ----------------------------------------------------------------------------------------------
# Registry and mix
# ----------------------------------------------------------------------------------------------

AugmenterFn = Callable[[dict[str, Any], AugmentContext, int], AugmentGen]

AUGMENTERS: dict[str, AugmenterFn] = {
    "metamath_ansaug": metamath_ansaug,
    "metamath_rephrase": metamath_rephrase,
    "metamath_fobar": metamath_fobar,
    "metamath_sv": metamath_sv,
    "evol": evol,
    "xwin": xwin,
}
_METAMATH_KEYS = {"answer_aug": "metamath_ansaug", "rephrase": "metamath_rephrase", "fobar": "metamath_fobar",
                  "self_verification": "metamath_sv"}
NEEDS_GOLD = {"metamath_ansaug", "metamath_rephrase", "metamath_fobar", "metamath_sv"}


def _weighted(weights: dict[str, float], u: float) -> str:
    total = sum(weights.values())
    acc = 0.0
    for k, w in weights.items():
        acc += w / total
        if u < acc:
            return k
    return list(weights)[-1]


def choose_method(seed: dict[str, Any], draw: int, mix: dict[str, float], metamath_mix: dict[str, float],
                  ctx: AugmentContext) -> str | None:
    """Deterministic weighted choice of the augmenter for one (seed, draw). MetaMath needs a ground-truth
    answer: for a seed without one the draw goes to the other methods by their weights."""
    mix = {k: float(v) for k, v in mix.items() if v and float(v) > 0}
    if not has_gold(seed):
        mix.pop("metamath", None)
    if not mix:
        return None
    rng = ctx.rng("mix", seed["id"], draw)
    family = _weighted(mix, rng.random())
    if family != "metamath":
        return family
    sub = {k: float(v) for k, v in metamath_mix.items() if v and float(v) > 0}
    return _METAMATH_KEYS[_weighted(sub, rng.random())]


def validate_mix(mix: dict[str, float], metamath_mix: dict[str, float], where: str) -> None:
    bad = sorted(set(mix) - {"metamath", "evol", "xwin"})
    if bad:
        raise ValueError(f"{where}: unknown method(s) {bad} in mix; use metamath, evol, xwin")
    bad = sorted(set(metamath_mix) - set(_METAMATH_KEYS))
    if bad:
        raise ValueError(f"{where}: unknown metamath method(s) {bad}; use {sorted(_METAMATH_KEYS)}")
    if any(float(v) < 0 for v in [*mix.values(), *metamath_mix.values()]):
        raise ValueError(f"{where}: mix weights must be >= 0")
    if not any(float(v) > 0 for v in mix.values()):
        raise ValueError(f"{where}: at least one method needs a positive weight")
    if float(mix.get("metamath", 0)) > 0 and not any(float(v) > 0 for v in metamath_mix.values()):
        raise ValueError(f"{where}: metamath has weight but metamath_mix has none")


__all__ = ["AugmentContext", "AUGMENTERS", "EVOL_STRATEGIES", "METAMATH_METHODS", "choose_method", "validate_mix",
           "finalize", "split_answer", "mask_number", "parse_verdict", "problem_failure", "row_id", "is_refusal"]
