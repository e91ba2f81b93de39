"""Padding vs packing vs padding-free batching: tokens/s and share of non-padding tokens, same run.

Why: the paper's recipe pads every batch to its longest row; math solutions vary a lot in length, so a
large share of the compute can go to padding. This script trains one epoch over the same rows with
each batching mode of ``skymath-train`` (through the same ``build_trainer`` the CLI uses) on a small
Llama built in code, and prints per mode: wall time, real (non-padding) tokens per second, the share
of non-padding tokens in the batches, optimizer steps, and the speed-up against padding measured in
the same run.

Run (CPU, offline)::

    python bench/training.py --rows 64 --max-length 1024 --batch-size 8 --threads 1

On a GPU: ``python bench/training.py --cuda --attn flash_attention_2 --rows 2000 --max-length 2048
--batch-size 4 --hidden 1024 --layers 8 --threads 8`` (figures then depend on the GPU; report which).

Data: any JSONL with query/response columns (default: MATH train from ../shared/data, problem ->
solution, whose long-tailed lengths are what padding suffers from); falls back to the test fixture.
Note on packing: a packed row holds several examples, so with the same per-device batch a step sees
more examples and the epoch has fewer optimizer steps (the recipe's "32 examples per step" changes).
Padding-free keeps one example per batch slot, hence the same steps as padding.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DEFAULT_DATA = REPO.parent / "shared" / "data" / "math" / "train.jsonl"
FIXTURE = REPO / "tests" / "data" / "training_stage1.jsonl"
MODES = ("padding", "packing", "padding_free")


def build_model(out: Path, hidden: int, layers: int, vocab: int) -> Path:
    """Tokenizer from the tests' tiny builder (trained locally), then a Llama of the requested size."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from skymath_tasks.devtools.tiny_model import build_tiny_llama

    build_tiny_llama(out, vocab_size=vocab)
    tok = AutoTokenizer.from_pretrained(out)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 16), num_key_value_heads=max(1, hidden // 16),
        max_position_embeddings=8192, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out


class CountingCollator:
    """Wraps TRL's collator to count the tokens each batch really carries."""

    def __init__(self, inner):
        self.inner = inner
        self.total = self.real = self.trained = 0

    def __call__(self, examples):
        batch = self.inner(examples)
        ids = batch["input_ids"]
        self.total += ids.numel()
        if "attention_mask" in batch:
            self.real += int(batch["attention_mask"].sum())
        else:  # padding-free row: every position is a real token (no pad_to_multiple_of here)
            self.real += ids.numel()
        self.trained += int((batch["labels"] != -100).sum())
        return batch


def run_mode(mode: str, model_dir: Path, data_path: Path, args: argparse.Namespace, work: Path) -> dict:
    from transformers import AutoTokenizer

    from training.cli import build_trainer, load_data, stage_training_args
    from training.config import parse_args
    from training.data import apply_length_policy

    script, sft, model_args = parse_args([
        "--preset", "cpu-smoke", "--stage", "1", "--model_name_or_path", str(model_dir),
        "--stage1_data", str(data_path), "--query_field", args.query_field, "--response_field", args.response_field,
        "--stage1_rows", str(args.rows), "--subset_seed", "0", "--batching", mode,
        "--max_length", str(args.max_length), "--overlong", "drop",
        "--global_batch_size", str(args.batch_size), "--per_device_train_batch_size", str(args.batch_size),
        "--num_train_epochs", "1", "--save_strategy", "no", "--logging_steps", "1000000",
        "--learning_rate", "1e-4", "--output_dir", str(work / mode), "--seed", "0",
        *(["--use_cpu", "false", "--bf16", "true"] if args.cuda else []),
        *(["--attn_implementation", args.attn] if args.attn else []),
    ])
    targs = stage_training_args(script, sft, 1, work / mode / "stage1")
    tok = AutoTokenizer.from_pretrained(model_dir)
    data = apply_length_policy(load_data(script, 1), tok, targs.max_length, script.overlong)
    trainer = build_trainer(script, targs, model_args, str(model_dir), data, tok)
    counter = CountingCollator(trainer.data_collator)
    trainer.data_collator = counter
    start = time.perf_counter()
    result = trainer.train()
    seconds = time.perf_counter() - start
    return {
        "mode": mode,
        "rows": len(data.pairs),
        "dropped_over_max_length": data.dropped_rows,
        "steps": trainer.state.global_step,
        "seconds": round(seconds, 2),
        "real_tokens": counter.real,
        "batch_tokens": counter.total,
        "completion_tokens": counter.trained,
        "non_padding_share": round(counter.real / counter.total, 4),
        "real_tokens_per_s": round(counter.real / seconds, 1),
        "train_loss": round(result.metrics.get("train_loss", float("nan")), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA if DEFAULT_DATA.exists() else FIXTURE)
    parser.add_argument("--query-field", default=None, help="default: problem for MATH, query otherwise")
    parser.add_argument("--response-field", default=None, help="default: solution for MATH, response otherwise")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=8, help="per-device batch = global batch (no accumulation)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is steadiest on a shared box)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--cuda", action="store_true", help="train on the GPU in bf16 (default: CPU, fp32)")
    parser.add_argument("--attn", default=None, help="attn_implementation, e.g. flash_attention_2 (default: sdpa)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    is_math = "solution" in args.data.read_text(encoding="utf-8").split("\n", 1)[0]
    args.query_field = args.query_field or ("problem" if is_math else "query")
    args.response_field = args.response_field or ("solution" if is_math else "response")

    import logging

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()
    logging.getLogger("training").setLevel(logging.WARNING)
    logging.getLogger("skymath").setLevel(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = build_model(work / "model", args.hidden, args.layers, args.vocab)
        results = [run_mode(m, model_dir, args.data, args, work) for m in args.modes.split(",")]
    base = next((r for r in results if r["mode"] == "padding"), results[0])
    for r in results:
        r["speedup_vs_padding"] = round(r["real_tokens_per_s"] / base["real_tokens_per_s"], 2)
        r["epoch_time_ratio_vs_padding"] = round(r["seconds"] / base["seconds"], 3)

    print(f"data={args.data} rows={args.rows} max_length={args.max_length} batch={args.batch_size} "
          f"model=llama(hidden={args.hidden}, layers={args.layers}, vocab={args.vocab}) threads={args.threads} "
          f"device={torch.cuda.get_device_name(0) if args.cuda else 'cpu'} attn={args.attn or 'sdpa'} "
          f"torch={torch.__version__}")
    cols = ["mode", "rows", "steps", "seconds", "real_tokens", "batch_tokens", "non_padding_share",
            "real_tokens_per_s", "speedup_vs_padding", "train_loss"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in results:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": results},
                                        indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
