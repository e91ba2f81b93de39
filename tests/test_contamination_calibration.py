"""The calibration experiment on the tiny Llama: a model fine-tuned on a known half of the items is
flagged on that half, through lm-eval's hf backend; and the per-unit figures the probes use are what
the model itself computes.

Oracles: which items were planted (chosen before training, never seen by the probes); the model's own
token log-probs from a plain forward pass; greedy generation with ``model.generate``.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

pytest.importorskip("trl")


def _bench():
    spec = importlib.util.spec_from_file_location("contamination_calibration",
                                                  REPO_ROOT / "bench" / "contamination_calibration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_a_model_trained_on_half_the_items_is_caught_on_that_half(tmp_path: Path) -> None:
    bench = _bench()
    args = bench.build_parser().parse_args([
        "--tiny", "--synthetic", "16", "--epochs", "40", "--lr", "5e-3", "--batch-size", "4", "--threads", "1",
        "--skip-base", "--in-process", "--no-token-min-k", "--eval-batch-size", "32", "--output-dir", str(tmp_path)])
    report = bench.calibrate(args)
    tuned = report["models"]["finetuned"]
    assert report["probed"] == 16 and len(report["planted"]) == 8
    for probe in ("ngram", "mink"):
        sep = tuned[probe]["planted_vs_clean"]
        assert sep["auc"] >= 0.9, (probe, sep)
        assert tuned[probe]["mean_diff_planted"] > tuned[probe]["mean_diff_clean"]
    # half the items planted: the gap is clearly positive and read as a strong sign
    assert tuned["ngram"]["interval"][0] > 0 and tuned["ngram"]["reading"] == "strong sign"
    assert (tmp_path / "calibration.json").is_file()


def test_unit_log_probs_and_greedy_flags_are_the_models_own(tiny_llama_dir: Path, tmp_path: Path) -> None:
    """What lm-eval's hf backend returns for a unit equals the sum of the model's token log-probs over
    the unit's tokens, and ``greedy`` equals "greedy generation from the context writes the unit"
    (checked on a model trained a little on the text, so that both answers occur)."""
    import torch
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skymath_tasks.leakage_probes import ProbePair, unit_documents

    torch.set_num_threads(1)
    text = "Mia has 3 boxes with 4 pencils in each box.\nShe has 3 * 4 = 12 pencils in all.\n#### 12"
    model_dir = _bench().fine_tune(tiny_llama_dir, [{"text": text}], tmp_path, epochs=12, lr=5e-3, batch_size=1,
                                   seed=0, max_length=128)
    docs = [d for d in unit_documents([ProbePair(0, "x", text, text, "problem+solution")], unit_words=1)
            if d["set"] == "test"]
    lm = HFLM(pretrained=str(model_dir), dtype="float32", device="cpu", batch_size=8)
    got = lm.loglikelihood([Instance("loglikelihood", d, (d["context"], d["continuation"]), i)
                            for i, d in enumerate(docs)])

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    flags = []
    for d, (ll, greedy) in zip(docs, got):
        ctx_ids = tok(d["context"]).input_ids
        full_ids = tok(d["context"] + d["continuation"]).input_ids
        assert full_ids[: len(ctx_ids)] == ctx_ids  # the tokenizer splits at the word boundary
        cont = full_ids[len(ctx_ids):]
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([full_ids])).logits[0].float(), dim=-1)
            gen = model.generate(torch.tensor([ctx_ids]), attention_mask=torch.ones(1, len(ctx_ids), dtype=torch.long),
                                 max_new_tokens=len(cont), do_sample=False, pad_token_id=tok.pad_token_id)
        direct = sum(logp[len(ctx_ids) - 1 + i, t].item() for i, t in enumerate(cont))
        assert math.isclose(ll, direct, rel_tol=1e-4, abs_tol=1e-4)
        assert greedy == (gen[0, len(ctx_ids):].tolist() == cont)
        flags.append(greedy)
    assert any(flags) and not all(flags), flags
