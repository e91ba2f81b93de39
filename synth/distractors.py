"""The LLM mode of the distractor generator: CMATH-style distractors written by a model, then checked.

The offline generator, the row layout and the safety check live in the evaluation layer
(:mod:`skymath_tasks.distractors`), because the distractor tasks build their rows from it when no file
is present; this module adds only what needs a model endpoint.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from skymath_tasks.distractors import (
    DEFAULT_SEED,
    K_MAX,
    DistractorVariant,
    check_distractor,
    distractor_row,
    forbidden_numbers,
    numbers_in,
    split_question_sentence,
    template_distractors,
    variants_from,
)

if TYPE_CHECKING:  # the client is only needed by the LLM mode
    from synth.client import ChatClient

log = logging.getLogger(__name__)


LLM_SYSTEM_PROMPT = (
    "You write distractors for math word problems, as in the CMATH robustness test: short factual "
    "sentences with a number, about the people and things of the problem, that are irrelevant to the "
    "question and do not change its answer."
)
LLM_USER_TEMPLATE = """Problem:
{question}

Write {k} distractor sentences for this problem, in English.
Rules:
- each is one short declarative sentence that contains exactly one number written in digits;
- talk about the people, objects or setting of the problem, but add nothing the question needs;
- never use any of these numbers: {forbidden};
- no questions, no question marks, do not repeat or rephrase the question;
- each must still be true-sounding when the sentences are read in order.
Reply with a JSON list of {k} strings and nothing else."""
LLM_GENERATOR_VERSION = "skymath-distractors-llm-v1"


def llm_prompt(question: str, answer: str, k_max: int = K_MAX) -> str:
    forbidden = sorted(forbidden_numbers(question, answer))
    shown = ", ".join(f"{x:g}" for x in forbidden if x == int(x) and x < 10_000)
    return LLM_USER_TEMPLATE.format(question=question, k=k_max, forbidden=shown or "(none)")


def parse_llm_distractors(text: str) -> list[str]:
    """The sentences of a reply: a JSON list of strings (in a code fence or not), else one per line."""
    body = text.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", body, re.S)
    if fence:
        body = fence.group(1).strip()
    start, end = body.find("["), body.rfind("]")
    if start != -1 and end > start:
        try:
            items = json.loads(body[start : end + 1])
            if isinstance(items, list):
                return [str(x).strip() for x in items if isinstance(x, (str, int, float)) and str(x).strip()]
        except json.JSONDecodeError:
            pass
    lines = [re.sub(r"^\s*(?:[-*]|\d+[.)])\s+", "", ln).strip() for ln in body.splitlines()]
    return [ln for ln in lines if ln]


def select_llm_distractors(question: str, answer: str, candidates: Iterable[str], *, seed: int | str,
                           k_max: int = K_MAX) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """Keep the candidates that pass :func:`check_distractor`, fill up with templates.

    Returns ``(distractors, sources, rejected)`` where ``sources`` is "llm" or the template id of each
    sentence and ``rejected`` lists ``{"sentence", "problems"}`` for the log and the row metadata.
    """
    kept: list[str] = []
    rejected: list[dict[str, Any]] = []
    for cand in candidates:
        if len(kept) == k_max:
            break
        problems = check_distractor(cand, question, answer, others=kept)
        if problems:
            rejected.append({"sentence": cand, "problems": problems})
        else:
            kept.append(cand.strip())
    sources = ["llm"] * len(kept)
    if len(kept) < k_max:
        avoid: set[float] = set()
        for s in kept:
            avoid |= numbers_in(s)
        more, ids = template_distractors(question, answer, seed=seed, k_max=k_max - len(kept), avoid=avoid)
        kept += more
        sources += ids
    return kept, sources, rejected


def make_llm_distractor_variants(question: str, answer: str, reply: str, *, seed: int | str,
                                 k_max: int = K_MAX) -> tuple[list[DistractorVariant], list[dict[str, Any]]]:
    """Variants from one model reply (checked, topped up with templates) and the rejected sentences."""
    kept, sources, rejected = select_llm_distractors(
        question, answer, parse_llm_distractors(reply), seed=seed, k_max=k_max
    )
    # The final question sentence must survive assembly byte for byte (a model sentence with an odd
    # ending could shift the split); verify rather than trust.
    variants = variants_from(question, kept, sources)
    _, final = split_question_sentence(question)
    for v in variants:
        if split_question_sentence(v.question)[1] != final:
            raise AssertionError(f"assembly moved the question sentence: {v.question!r}")
    return variants, rejected


def build_llm_distractor_rows(
    gsm8k_rows: Sequence[dict[str, Any]],
    client: "ChatClient",
    *,
    output_path: str | os.PathLike,
    seed: int | str = DEFAULT_SEED,
    k_max: int = K_MAX,
    temperature: float | None = None,
    progress: bool = False,
) -> dict[int, list[dict[str, Any]]]:
    """LLM mode over a GSM8K split, resumable: the raw model replies go to ``output_path`` (JSONL keyed
    by a deterministic request id) through :func:`synth.client.run_requests`, so a rerun asks only for
    what is missing. Every reply is checked (:func:`check_distractor`) and topped up with templates.
    Returns ``{k: rows}`` like :func:`build_all_distractor_rows`; rows also carry the rejected sentences.
    """
    from synth.client import ChatRequest, load_responses, request_id, run_requests

    model = client.config.model
    requests = []
    ids = []
    for index, src in enumerate(gsm8k_rows):
        messages = [
            {"role": "system", "content": LLM_SYSTEM_PROMPT},
            {"role": "user", "content": llm_prompt(src["question"], src["answer"], k_max)},
        ]
        params = {} if temperature is None else {"temperature": temperature}
        rid = request_id(LLM_GENERATOR_VERSION, model, messages, params)
        ids.append(rid)
        requests.append(ChatRequest(rid, messages, params, {"index": index, "task": "distractors"}))
    run_requests(client, requests, output_path, progress=progress, desc="distractors")
    replies = load_responses(output_path)
    out: dict[int, list[dict[str, Any]]] = {k: [] for k in range(1, k_max + 1)}
    generator = f"{LLM_GENERATOR_VERSION}:{model}"
    n_missing = 0
    for index, src in enumerate(gsm8k_rows):
        reply = replies.get(ids[index])
        if reply is None:
            n_missing += 1
        text = str(reply.get("text", "")) if reply else ""
        variants, rejected = make_llm_distractor_variants(src["question"], src["answer"], text, seed=seed, k_max=k_max)
        if rejected:
            log.debug("problem %d: rejected %d model distractor(s): %s", index, len(rejected),
                      "; ".join(", ".join(r["problems"]) for r in rejected))
        for v in variants:
            row = distractor_row(index, src, v, seed, generator)
            row["rejected_distractors"] = rejected
            row["llm_reply"] = reply is not None  # False: the request failed for good; rerun to fill in
            out[v.k].append(row)
    if n_missing:
        log.warning("%d problem(s) got no model reply (see %s.errors.jsonl); they use template distractors",
                    n_missing, output_path)
    return out

