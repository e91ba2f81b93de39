"""Calibration of the contamination probes: plant half of a sample of test items in a model, then see
whether the probes find that half.

Why: a probe that reads "no sign" is only worth something if it would have seen a leak. This script
makes a deliberately contaminated model and measures how well the probes separate the items it was
trained on from the ones it was not:

1. sample ``--items`` GSM8K test items (``--data-dir``; or ``--synthetic N`` word problems written by
   the script, for the tiny model) and split them at random into a *planted* and a *clean* half;
2. fine-tune the base model with TRL's ``SFTTrainer`` on the planted half (``--leak text``: problem +
   solution as plain text, full loss, as a web page in pretraining data; ``--leak sft``: the Alpaca
   prompt/response pairs of SkyMath's training data, loss on the response), optionally mixed with
   ``--background`` other items (GSM8K train) so the leak is a minority of the data;
3. run the probe task ``skymath_contam_gsm8k`` through the real ``lm_eval`` command on the base model
   and on the fine-tuned one, on a data folder holding exactly the sample;
4. from the per-sample logs: the gap, interval and reading of each model, and per item the score
   difference item - twin; the AUC of planted vs clean for each probe (and for the raw test-item
   scores, without the twin), the item-level threshold that best separates them (Youden's J) with
   its true and false positive rates, and the same at the a-priori thresholds of
   ``skymath_tasks.leakage_probes.ITEM_THRESHOLDS``;
5. token-level Min-K% computed directly from the fine-tuned model (what Shi et al. define) next to
   our unit-level estimate: their AUCs and their correlation over texts.

Prints the figures and writes ``<output-dir>/calibration.json``. Examples::

    # the tiny Llama built in code (what tests/test_contamination_calibration.py runs), ~1 minute
    python bench/contamination_calibration.py --tiny --synthetic 24 --output-dir /tmp/calib-tiny

    # SmolLM2-135M (a plain Hugging Face folder), 60 GSM8K test items; on 2 CPU cores about an hour
    python bench/contamination_calibration.py --model-dir /tmp/smollm2 --data-dir ../shared/data \\
        --items 60 --epochs 4 --lr 1e-4 --output-dir /tmp/calib-smol
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skymath_tasks.leakage_probes import (  # noqa: E402
    ITEM_THRESHOLDS,
    PairScores,
    gap_stats,
    gsm8k_pairs,
    gsm8k_text,
    pair_scores,
    reading,
    roc_auc,
)

TASK = "skymath_contam_gsm8k"

# ------------------------------------------------------------------------------------------ items
_NAMES = ["Mia", "Leo", "Sara", "Omar", "Lena", "Raj", "Tess", "Ivan", "Nora", "Eli", "Hana", "Carl", "Zoe", "Ben"]
_THINGS = ["apples", "stamps", "marbles", "pencils", "cookies", "cards", "shells", "books", "plums", "coins"]
_TEMPLATES = [
    ("{n} has {a} {t}. {n} buys {b} more {t} and gives {c} {t} to a friend. How many {t} does {n} have now?",
     "{n} has {a} + {b} = <<{a}+{b}={s1}>>{s1} {t} after buying.\nThen {n} has {s1} - {c} = <<{s1}-{c}={r}>>{r} {t} left.\n#### {r}",
     lambda a, b, c: (a + b, a + b - c)),
    ("A shop sells {t} in boxes of {a}. {n} buys {b} boxes and eats {c} {t}. How many {t} are left?",
     "{n} buys {b} * {a} = <<{b}*{a}={s1}>>{s1} {t}.\nAfter eating, {s1} - {c} = <<{s1}-{c}={r}>>{r} {t} are left.\n#### {r}",
     lambda a, b, c: (a * b, a * b - c)),
    ("{n} collects {a} {t} on Monday and {b} {t} on Tuesday, then loses {c} of them. How many {t} remain?",
     "On both days {n} collects {a} + {b} = <<{a}+{b}={s1}>>{s1} {t}.\nSo {s1} - {c} = <<{s1}-{c}={r}>>{r} {t} remain.\n#### {r}",
     lambda a, b, c: (a + b, a + b - c)),
]


def synthetic_items(n: int, seed: int = 0) -> list[dict[str, str]]:
    """``n`` GSM8K-format word problems written by this script (names, things and numbers drawn with a seed)."""
    rng = random.Random(f"skymath-calibration-{seed}")
    out, seen = [], set()
    while len(out) < n:
        q_t, a_t, f = _TEMPLATES[len(out) % len(_TEMPLATES)]
        a, b = rng.randint(12, 48), rng.randint(3, 9)
        s1, _ = f(a, b, 0)
        c = rng.randint(2, min(s1 - 1, 30))
        s1, r = f(a, b, c)
        fill = {"n": rng.choice(_NAMES), "t": rng.choice(_THINGS), "a": a, "b": b, "c": c, "s1": s1, "r": r}
        q = q_t.format(**fill)
        if q not in seen:
            seen.add(q)
            out.append({"question": q, "answer": a_t.format(**fill)})
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------------------ training
def training_rows(items: list[dict[str, str]], leak: str) -> list[dict[str, str]]:
    from skymath_tasks.gold import gsm8k_gold, gsm8k_reasoning
    from skymath_tasks.prompts import build_prompt, completion_for, format_response

    if leak == "text":
        return [{"text": gsm8k_text(r["question"], r["answer"])} for r in items]
    return [{"prompt": build_prompt(r["question"]),
             "completion": completion_for(format_response(gsm8k_reasoning(r["answer"]), gsm8k_gold(r["answer"])))}
            for r in items]


def fine_tune(base: Path, rows: list[dict[str, str]], out: Path, *, epochs: float, lr: float, batch_size: int,
              seed: int, max_length: int) -> Path:
    """TRL SFT of ``base`` on ``rows`` (``text`` rows: full loss; prompt/completion rows: loss on the completion)."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(base)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(base, dtype="float32")
    cfg = SFTConfig(output_dir=str(out / "trainer"), num_train_epochs=epochs, learning_rate=lr,
                    per_device_train_batch_size=batch_size, gradient_accumulation_steps=1, lr_scheduler_type="constant",
                    warmup_steps=0, weight_decay=0.0, logging_steps=10, save_strategy="no", report_to=[], seed=seed,
                    bf16=False, fp16=False, use_cpu=not _cuda(), activation_checkpointing=False, max_length=max_length,
                    dataloader_num_workers=0, disable_tqdm=True)
    trainer = SFTTrainer(model=model, args=cfg, train_dataset=Dataset.from_list(rows), processing_class=tok)
    result = trainer.train()
    final = out / "model"
    trainer.save_model(str(final))
    tok.save_pretrained(final)
    print(f"  fine-tuned {len(rows)} rows x {epochs} epochs in {result.metrics.get('train_runtime', 0):.0f} s, "
          f"final train loss {result.metrics.get('train_loss', float('nan')):.3f} -> {final}")
    return final


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


# ------------------------------------------------------------------------------------------ probes
def run_probe(model_dir: Path, data_dir: Path, out: Path, *, batch_size: int, unit_words: int,
              in_process: bool = False) -> list[list[Any]]:
    """The probe task through lm-eval on ``model_dir``: the ``lm_eval run`` command (what a user runs;
    its per-sample log is read back), or ``simple_evaluate`` with the same hf backend in this process
    (the test: no second interpreter start). Returns the per-document values the aggregations get."""
    metadata = {"data_dir": str(data_dir), "unit_words": unit_words}
    device = "cuda" if _cuda() else "cpu"
    start = time.time()
    if in_process:
        import lm_eval.models  # noqa: F401  lm-eval registers its own backends only when no other model is registered
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager

        tm = TaskManager(include_path=str(REPO / "task_configs"), include_defaults=False, metadata=metadata)
        res = simple_evaluate(model="hf", model_args=f"pretrained={model_dir},dtype=float32", tasks=[TASK],
                              task_manager=tm, batch_size=batch_size, device=device, log_samples=True,
                              bootstrap_iters=0)
        rows = res["samples"][TASK]
    else:
        lm_eval = Path(sys.executable).with_name("lm_eval")
        cmd = [str(lm_eval), "run", "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32",
               "--tasks", TASK, "--include_path", str(REPO / "task_configs"), "--metadata", json.dumps(metadata),
               "--batch_size", str(batch_size), "--device", device, "--output_path", str(out), "--log_samples"]
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"lm_eval failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        samples = sorted(out.rglob(f"samples_{TASK}_*.jsonl"))[-1]
        with open(samples, encoding="utf-8") as fh:
            rows = [json.loads(line) for line in fh]
    print(f"  lm_eval {TASK} on {model_dir}: {time.time() - start:.0f} s, {len(rows)} requests")
    return rows


def item_scores(rows: list[dict[str, Any]]) -> tuple[list[PairScores], dict[int, str]]:
    """Pairs from lm-eval's per-sample rows, and pair -> item id."""
    values = [row["ngram_gap"] for row in rows]
    ids = {int(row["doc"]["pair"]): str(row["doc"]["item"]) for row in rows}
    return pair_scores(values), ids


def token_min_k(model_dir: Path, texts: list[str], k: float = 0.2) -> list[float]:
    """Shi et al.'s Min-K% Prob on tokens, computed directly: mean of the k lowest token log-probs."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    out = []
    with torch.no_grad():
        for text in texts:
            ids = tok(text, return_tensors="pt").input_ids
            logp = torch.log_softmax(model(ids).logits[0, :-1].float(), dim=-1)
            token_lp = logp.gather(1, ids[0, 1:, None])[:, 0].tolist()
            lowest = sorted(token_lp)[: max(1, math.ceil(k * len(token_lp)))]
            out.append(sum(lowest) / len(lowest))
    return out


def separation(pos: list[float], neg: list[float]) -> dict[str, Any]:
    """AUC, and the threshold (flag when score >= t) with the best Youden's J, with its rates."""
    best = (-1.0, None, 0.0, 0.0)
    for t in sorted(set(pos + neg)):
        tpr = sum(x >= t for x in pos) / len(pos)
        fpr = sum(x >= t for x in neg) / len(neg)
        if tpr - fpr > best[0]:
            best = (tpr - fpr, t, tpr, fpr)
    return {"auc": roc_auc(pos, neg), "best_threshold": best[1], "tpr": best[2], "fpr": best[3]}


def at_threshold(pos: list[float], neg: list[float], t: float) -> dict[str, float]:
    return {"threshold": t, "tpr": sum(x >= t for x in pos) / len(pos), "fpr": sum(x >= t for x in neg) / len(neg)}


def _pearson(a: list[float], b: list[float]) -> float | None:
    n = len(a)
    if n < 3:
        return None
    ma, mb = sum(a) / n, sum(b) / n
    va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    return sum((x - ma) * (y - mb) for x, y in zip(a, b)) / math.sqrt(va * vb) if va and vb else None


# ------------------------------------------------------------------------------------------ main
def calibrate(args: argparse.Namespace) -> dict[str, Any]:
    """The whole experiment (see the module docstring); returns what ``calibration.json`` holds."""
    out = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    # 1. the sample and its split
    rng = random.Random(args.seed)
    if args.synthetic:
        pool = synthetic_items(args.synthetic + args.background, args.seed)
        sample, background = pool[: args.synthetic], pool[args.synthetic:]
    else:
        if args.data_dir is None:
            raise SystemExit("--data-dir (with gsm8k/test.jsonl) or --synthetic N is required")
        test = read_jsonl(args.data_dir / "gsm8k" / "test.jsonl")
        sample = rng.sample(test, min(args.items, len(test)))
        background = []
        if args.background:
            train = read_jsonl(args.data_dir / "gsm8k" / "train.jsonl")
            background = rng.sample(train, min(args.background, len(train)))
    sample = [{"question": r["question"], "answer": r["answer"]} for r in sample]
    probe_pairs = {p.item_id: p for p in gsm8k_pairs(sample)}  # items without a twin are not probed
    order = [i for i in range(len(sample)) if str(i) in probe_pairs]
    rng.shuffle(order)
    planted = set(order[: len(order) // 2])
    data = out / "data"
    write_jsonl(data / "gsm8k" / "test.jsonl", sample)
    print(f"{len(sample)} items, {len(order)} with a twin: {len(planted)} planted, {len(order) - len(planted)} clean; "
          f"{len(background)} background rows; leak = {args.leak}")

    # 2. base model and contaminated model
    if args.tiny:
        from skymath_tasks.devtools.tiny_model import build_tiny_llama

        base = build_tiny_llama(out / "base")
    else:
        base = args.model_dir
    rows = training_rows([sample[i] for i in sorted(planted)] + background, args.leak)
    tuned = fine_tune(base, rows, out / "finetuned", epochs=args.epochs, lr=args.lr, batch_size=args.batch_size,
                      seed=args.seed, max_length=args.max_length)

    # 3.-5. the probes through lm_eval, separation, token-level Min-K%
    report: dict[str, Any] = {"items": len(sample), "probed": len(order), "planted": sorted(planted),
                              "background": len(background), "leak": args.leak, "epochs": args.epochs, "lr": args.lr,
                              "unit_words": args.unit_words, "base_model": str(base), "models": {}}
    runs = {"finetuned": tuned} if args.skip_base else {"base": base, "finetuned": tuned}
    for name, model_dir in runs.items():
        rows_ = run_probe(model_dir, data, out / "runs" / name, batch_size=args.eval_batch_size,
                          unit_words=args.unit_words, in_process=args.in_process)
        pairs, ids = item_scores(rows_)
        entry: dict[str, Any] = {"requests": len(rows_)}
        is_planted = [int(ids[p.pair]) in planted for p in pairs]
        for probe in ("ngram", "mink"):
            st = gap_stats(pairs, probe)
            entry[probe] = {"gap": st.gap, "interval": [st.lo, st.hi], "test": st.test, "reference": st.reference,
                            "n": st.n, "reading": reading(st)}
            diff = [p.diff(probe) for p in pairs]
            raw = [getattr(p.test, probe) for p in pairs]
            pos = [d for d, y in zip(diff, is_planted) if y and d is not None]
            neg = [d for d, y in zip(diff, is_planted) if not y and d is not None]
            if pos and neg:
                entry[probe]["planted_vs_clean"] = separation(pos, neg)
                entry[probe]["at_item_threshold"] = at_threshold(pos, neg, ITEM_THRESHOLDS[probe])
                entry[probe]["raw_test_score_auc"] = roc_auc(
                    [r for r, y in zip(raw, is_planted) if y and r is not None],
                    [r for r, y in zip(raw, is_planted) if not y and r is not None])
                entry[probe]["mean_diff_planted"] = sum(pos) / len(pos)
                entry[probe]["mean_diff_clean"] = sum(neg) / len(neg)
        if args.token_min_k and name == "finetuned":
            keep = [p for p in pairs if ids[p.pair] in probe_pairs]
            texts = [probe_pairs[ids[p.pair]].test_text for p in keep] + \
                [probe_pairs[ids[p.pair]].reference_text for p in keep]
            tok = token_min_k(model_dir, texts)
            n = len(keep)
            tok_diff = [tok[i] - tok[n + i] for i in range(n)]
            y = [int(ids[p.pair]) in planted for p in keep]
            ours = [p.test.mink for p in keep] + [p.reference.mink for p in keep]
            entry["token_min_k"] = {
                "auc_diff": roc_auc([d for d, t in zip(tok_diff, y) if t], [d for d, t in zip(tok_diff, y) if not t]),
                "auc_raw": roc_auc([tok[i] for i in range(n) if y[i]], [tok[i] for i in range(n) if not y[i]]),
                "pearson_with_unit_min_k": _pearson(tok, ours),
            }
        report["models"][name] = entry
    report["wall_s"] = time.time() - t0
    (out / "calibration.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def print_report(report: dict[str, Any], out: Path) -> None:
    print(f"\ncalibration ({report['leak']} leak, {len(report['planted'])} planted / "
          f"{report['probed'] - len(report['planted'])} clean), {report['wall_s']:.0f} s")
    for name, entry in report["models"].items():
        for probe in ("ngram", "mink"):
            e = entry[probe]
            line = (f"  {name:9s} {probe:5s} gap {e['gap']:+.4f} [{e['interval'][0]:+.4f}, {e['interval'][1]:+.4f}] "
                    f"{e['reading']!r}")
            if "planted_vs_clean" in e:
                s, a = e["planted_vs_clean"], e["at_item_threshold"]
                line += (f"; AUC planted vs clean {s['auc']:.3f} (raw test score {e['raw_test_score_auc']:.3f}); "
                         f"best threshold {s['best_threshold']:+.3f}: TPR {s['tpr']:.2f} FPR {s['fpr']:.2f}; "
                         f"a-priori {a['threshold']:+.3f}: TPR {a['tpr']:.2f} FPR {a['fpr']:.2f}")
            print(line)
        if "token_min_k" in entry:
            tk = entry["token_min_k"]
            print(f"  {name:9s} token-level Min-K% (direct): AUC {tk['auc_diff']:.3f} (raw {tk['auc_raw']:.3f}); "
                  f"Pearson with the unit-level estimate {tk['pearson_with_unit_min_k']:.3f}")
    print(f"wrote {out / 'calibration.json'}")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-dir", type=Path, help="base model: a Hugging Face folder")
    src.add_argument("--tiny", action="store_true", help="the tiny Llama of skymath_tasks.devtools (built in code)")
    ap.add_argument("--data-dir", type=Path, help="benchmark data folder with gsm8k/test.jsonl (and train.jsonl)")
    ap.add_argument("--synthetic", type=int, metavar="N", help="N word problems written by this script instead of GSM8K")
    ap.add_argument("--items", type=int, default=60, help="GSM8K test items sampled (half planted)")
    ap.add_argument("--background", type=int, default=0,
                    help="other items trained on with the planted half (GSM8K train; synthetic: extra problems)")
    ap.add_argument("--leak", choices=("text", "sft"), default="text")
    ap.add_argument("--epochs", type=float, default=4)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--eval-batch-size", type=int, default=16)
    ap.add_argument("--unit-words", type=int, default=5)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on a busy machine)")
    ap.add_argument("--skip-base", action="store_true", help="do not probe the base model (saves one lm_eval run)")
    ap.add_argument("--in-process", action="store_true",
                    help="lm-eval's simple_evaluate in this process instead of the lm_eval command")
    ap.add_argument("--no-token-min-k", dest="token_min_k", action="store_false",
                    help="skip the direct token-level Min-K% comparison")
    ap.add_argument("--output-dir", type=Path, required=True)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    report = calibrate(args)
    print_report(report, args.output_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
