"""Translation checks (numbers, LaTeX, \\frac) and the translate path against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from skymath_tasks.devtools.openai_server import FakeOpenAIServer
from skymath_tasks.jsonl_io import read_jsonl
from synth.client import ChatClient, ClientConfig
from synth.translate import (
    check_translation,
    chinese_numeral,
    clean_reply,
    prompt_hash,
    protected_segments,
    translate_gsm8k_rows,
    translate_math_rows,
    uses_latex,
)

MATH_SRC = r"Compute $\frac{3}{4} + \frac{1}{2}$ and give the answer for 12 students in $\text{cm}^2$."
MATH_ZH = r"计算 $\frac{3}{4} + \frac{1}{2}$，并给出 12 名学生的答案，单位为 $\text{cm}^2$。"
GSM_SRC = ("Jayden had $70 from selling pictures he took as a hobby.  His sister Ava gave him half of her $90 "
           "allowance to help him buy a new camera that costs $200. How much more does Jayden need to buy the camera?")
GSM_ZH = ("杰登通过出售他业余拍摄的照片赚了70美元。他的姐姐艾瓦把她90美元的零花钱的一半给了他，以帮助他买一台新的相机，"
          "这台相机售价200美元。杰登还需要多少钱才能买到这台相机？")


# --- the check ------------------------------------------------------------------------------------------


def test_faithful_translations_pass() -> None:
    assert check_translation(MATH_SRC, MATH_ZH) == []
    assert check_translation(GSM_SRC, GSM_ZH) == []  # "$70" is money here and may become "70美元"
    # small numbers written as Chinese numerals still count as kept
    assert check_translation("Tom is 5 years older than Ann.", "汤姆比安大五岁。") == []


def test_a_dropped_number_is_caught() -> None:
    dst = GSM_ZH.replace("90美元的", "")
    problems = check_translation(GSM_SRC, dst)
    assert any("dropped" in p and "90" in p for p in problems), problems


def test_a_changed_or_added_number_is_caught() -> None:
    problems = check_translation(GSM_SRC, GSM_ZH.replace("200美元", "300美元"))
    assert any("dropped" in p and "200" in p for p in problems)
    assert any("added" in p and "300" in p for p in problems)


@pytest.mark.parametrize(
    "mangled",
    [
        MATH_ZH.replace(r"\frac{3}{4}", r"\frac34"),  # arguments lost their braces
        MATH_ZH.replace(r"\frac{3}{4}", r"frac{3}{4}"),  # backslash lost
        MATH_ZH.replace(r"\frac{3}{4}", r"\frac{4}{3}"),  # arguments swapped
        MATH_ZH.replace(r"$\frac{3}{4} + \frac{1}{2}$", "四分之三加二分之一"),  # written out in words
    ],
)
def test_a_mangled_frac_is_caught(mangled: str) -> None:
    problems = check_translation(MATH_SRC, mangled)
    assert any("segment" in p for p in problems), problems
    assert any("\\frac" in p or "LaTeX command" in p for p in problems), problems


def test_untranslated_text_and_broken_dollars_are_caught() -> None:
    assert any("not translated" in p for p in check_translation(MATH_SRC, MATH_SRC))
    assert any("unbalanced $" in p for p in check_translation(MATH_SRC, MATH_ZH + "$"))
    assert check_translation(MATH_SRC, "") == ["empty translation"]


def test_asy_blocks_are_protected() -> None:
    src = "Find the area of the square. [asy]\ndraw((0,0)--(4,0)--(4,4)--(0,4)--cycle);\n[/asy]"
    segs, prose = protected_segments(src)
    assert len(segs) == 1 and "draw" not in prose
    dst_ok = "求正方形的面积。[asy]\ndraw((0,0)--(4,0)--(4,4)--(0,4)--cycle);\n[/asy]"
    assert check_translation(src, dst_ok) == []
    assert check_translation(src, dst_ok.replace("(4,4)", "(4,5)")) != []


def test_money_dollars_are_not_latex() -> None:
    assert not uses_latex(GSM_SRC)
    assert not uses_latex("He gives his daughter 200$ and 700$ to his wife.")
    assert uses_latex(MATH_SRC)


def test_chinese_numerals_and_reply_cleaning() -> None:
    assert [chinese_numeral(s) for s in ("五", "十二", "二十五", "三百", "两千零五", "一万二千")] == [5, 12, 25, 300, 2005, 12000]
    assert clean_reply("```\n翻译：你好 $x$\n```") == "你好 $x$"


def test_every_math_test_problem_passes_against_itself(shared_data: Path) -> None:
    """Guards against false alarms on real LaTeX (asy, environments, \\$ money, display math)."""
    rows = read_jsonl(shared_data / "math" / "test.jsonl")
    bad = [r["unique_id"] for r in rows if check_translation(r["problem"], r["problem"], lang="en")]
    assert bad == []


def test_the_check_finds_real_defects_in_the_gpt4_gsm8k_translation(shared_data: Path) -> None:
    rows = read_jsonl(shared_data / "chinese" / "gsm8k_test_zh.jsonl")
    flagged = {r["openai_test_index"]: check_translation(r["question_en"], r["question_zh"]) for r in rows}
    flagged = {k: v for k, v in flagged.items() if v}
    assert 0 < len(flagged) < 0.1 * len(rows)  # most translations are faithful
    # "each weighing 15 pounds" is missing from the translation of this problem
    bridge = next(r for r in rows if r["question_en"].startswith("A wooden bridge can carry no more than 5000 pounds"))
    assert any("15" in p for p in flagged[bridge["openai_test_index"]])


# --- translate through a real HTTP server ------------------------------------------------------------------


def _source_of(req: dict) -> str:
    first_user = next(m["content"] for m in req["messages"] if m["role"] == "user")
    return first_user.split("Problem:\n", 1)[1]


def _fake_translation(src: str) -> str:
    """Keeps math and numbers, swaps a few words for Chinese: a translation as far as the check can tell."""
    return "问题：" + src.replace("Compute", "计算").replace("students", "名学生").replace("and", "和")


def _responder(drop_number_first_time: set[str], always_bad: set[str]):
    def answer(req: dict) -> str:
        src = _source_of(req)
        retry = any(m["role"] == "assistant" for m in req["messages"])
        good = _fake_translation(src)
        if src in always_bad:
            return re.sub(r"\d+", "", good)
        if src in drop_number_first_time and not retry:
            return re.sub(r"\d+", "", good, count=1)
        return good

    return answer


def _client(srv: FakeOpenAIServer, **kw) -> ChatClient:
    return ChatClient(ClientConfig(base_url=srv.base_url, model="gpt-4-test", temperature=0.0, max_retries=kw.pop("max_retries", 2),
                                   backoff_base_s=0.01, backoff_max_s=0.05, timeout_s=5, **kw))


MATH_ROWS = [
    {"problem": MATH_SRC, "solution": r"It is $\boxed{\frac{5}{4}}$.", "level": "Level 2", "type": "Algebra", "unique_id": "test/algebra/a.json"},
    {"problem": "How many of the 30 students like 7 colors?", "solution": r"$\boxed{4}$", "level": "Level 1", "type": "Prealgebra", "unique_id": "test/prealgebra/b.json"},
    {"problem": "Find $x$ if $2x + 3 = 11$.", "solution": r"$x=\boxed{4}$", "level": "Level 1", "type": "Algebra", "unique_id": "test/algebra/c.json"},
]


def test_translate_math_retries_a_failed_check_keeps_gold_and_resumes(tmp_path: Path) -> None:
    raw = tmp_path / "math" / "test_zh.jsonl.raw.jsonl"
    responder = _responder({MATH_ROWS[1]["problem"]}, set())
    with FakeOpenAIServer(responder) as srv:
        rows = translate_math_rows(MATH_ROWS, _client(srv), raw_path=raw, progress=False)
        first_count = srv.request_count()
        again = translate_math_rows(MATH_ROWS, _client(srv), raw_path=raw, progress=False)
        assert srv.request_count() == first_count  # resumed from the raw file: nothing asked twice
        sent = [json.loads(json.dumps(e.body)) for e in srv.log]
    assert first_count == 4  # 3 problems + 1 retry for the dropped number
    retry = next(b for b in sent if any(m["role"] == "assistant" for m in b["messages"]))
    assert "dropped" in retry["messages"][-1]["content"]  # the model is told what went wrong
    assert all(b["temperature"] == 0.0 for b in sent)
    assert rows == again
    for src, row in zip(MATH_ROWS, rows):
        assert row["translation_check"] == []
        assert row["problem_en"] == src["problem"] and row["solution"] == src["solution"]  # gold never translated
        assert (row["level"], row["type"], row["unique_id"]) == (src["level"], src["type"], src["unique_id"])
        assert row["problem"].startswith("问题：")
        prov = row["provenance"]
        assert prov["model"] == "gpt-4-test" and prov["prompt_hash"] == prompt_hash("zh") and prov["date"]
    assert rows[1]["provenance"]["attempts"] == 2 and rows[0]["provenance"]["attempts"] == 1


def test_translation_that_keeps_failing_is_flagged_not_dropped(tmp_path: Path) -> None:
    bad = MATH_ROWS[1]["problem"]
    with FakeOpenAIServer(_responder(set(), {bad})) as srv:
        rows = translate_math_rows(MATH_ROWS, _client(srv), raw_path=tmp_path / "raw.jsonl", max_attempts=3, progress=False)
        assert srv.request_count() == 3 + 2  # the bad one was tried 3 times
    assert rows[1]["translation_check"] and any("dropped" in p for p in rows[1]["translation_check"])
    assert rows[0]["translation_check"] == [] and rows[2]["translation_check"] == []


def test_failed_requests_are_asked_again_on_the_next_run(tmp_path: Path) -> None:
    raw = tmp_path / "raw.jsonl"
    with FakeOpenAIServer(_responder(set(), set())) as srv:
        srv.inject("500", times=1, match=lambda req: "30 students" in json.dumps(req))
        rows = translate_math_rows(MATH_ROWS, _client(srv, max_retries=0), raw_path=raw, progress=False)
        assert rows[1]["translation_check"] == ["no reply from the model"]
        n = srv.request_count()
        rows = translate_math_rows(MATH_ROWS, _client(srv, max_retries=0), raw_path=raw, progress=False)
        assert srv.request_count() == n + 1  # only the missing one
    assert all(r["translation_check"] == [] for r in rows)


def test_translate_gsm8k_uses_the_shared_layout_and_carries_the_gold(tmp_path: Path, shared_data: Path) -> None:
    src = read_jsonl(shared_data / "gsm8k" / "test.jsonl")[:4]
    layout = read_jsonl(shared_data / "chinese" / "gsm8k_test_zh.jsonl")[0]
    with FakeOpenAIServer(lambda req: _fake_translation(_source_of(req))) as srv:
        rows = translate_gsm8k_rows(src, _client(srv), raw_path=tmp_path / "raw.jsonl", progress=False)
    for i, (s, r) in enumerate(zip(src, rows)):
        assert set(layout) <= set(r)
        assert r["idx"] == r["openai_test_index"] == i
        assert r["question_en"] == s["question"] and r["answer_full"] == s["answer"]
        assert r["answer"] == r["answer_openai"] == s["answer"].rsplit("####", 1)[1].strip()
        assert r["translation_check"] == []
