"""`skymath-demo --export-hf`: the GGUF as a plain Hugging Face folder that generates what the GGUF does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skymath_tasks import demo

PROMPT = "Below is an instruction.\n\n### Instruction:\nWhat is 12 times 4?\n\n### Response: Let's think step by step."


def test_export_refuses_a_folder_that_holds_something(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(demo, "find_gguf", lambda args: pytest.fail("looked for the model before checking DIR"))
    (tmp_path / "keep.txt").write_text("user data")
    assert demo.main(["--export-hf", str(tmp_path)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "keep.txt").read_text() == "user data"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_exported_folder_loads_plainly_and_generates_the_same_greedy_tokens(smollm2_gguf: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from skymath_tasks.gguf_export import export_model

    def greedy(model, tok) -> tuple[list[int], list[int]]:
        ids = tok(PROMPT, return_tensors="pt")
        with torch.no_grad():
            gen = model.generate(**ids, max_new_tokens=20, do_sample=False, pad_token_id=tok.pad_token_id)
        return ids["input_ids"][0].tolist(), gen[0, ids["input_ids"].shape[1]:].tolist()

    # The oracle: the GGUF as transformers loads it (what the demo runs), before the export sees it.
    gguf_tok = AutoTokenizer.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name)
    gguf_model = AutoModelForCausalLM.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name, dtype=torch.float32)
    with pytest.raises(ValueError, match="not serializable"):  # why the converter exists
        gguf_model.save_pretrained(tmp_path / "direct")
    want_prompt, want = greedy(gguf_model, gguf_tok)
    assert len(set(want)) > 3, f"degenerate generation {want}: the comparison would prove little"

    out = tmp_path / "smollm2-hf"
    export_model(gguf_model, gguf_tok, out, source_name=smollm2_gguf.name)

    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"]  # what transformers serve / vLLM dispatch on
    assert "quantization_config" not in config
    assert (out / "model.safetensors").stat().st_size > 500e6  # 134.5M parameters in float32
    assert not list(tmp_path.glob(".smollm2-hf.*")), "staging folder left behind"

    plain_tok = AutoTokenizer.from_pretrained(out)
    plain = AutoModelForCausalLM.from_pretrained(out)
    assert getattr(plain, "hf_quantizer", None) is None  # a plain model
    got_prompt, got = greedy(plain, plain_tok)
    assert got_prompt == want_prompt
    assert got == want
    plain.save_pretrained(tmp_path / "again")  # and it can be saved like any model
    del plain

    # bfloat16: half the size, and it generates what the float32 folder loaded as bfloat16 generates.
    half = tmp_path / "smollm2-bf16"
    export_model(gguf_model, gguf_tok, half, dtype="bfloat16")
    assert json.loads((half / "config.json").read_text())["dtype"] == "bfloat16"
    assert (half / "model.safetensors").stat().st_size < 300e6
    _, from_half = greedy(AutoModelForCausalLM.from_pretrained(half, dtype=torch.bfloat16), plain_tok)
    _, from_full = greedy(AutoModelForCausalLM.from_pretrained(out, dtype=torch.bfloat16), plain_tok)
    assert from_half == from_full
