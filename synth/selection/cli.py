"""Subcommands of ``skymath-synth`` for data selection: decontaminate, coreset, select-hard, verify, dedup.

Each command is a step of the selection protocol (:mod:`synth.selection.step`): it reads a JSONL file,
writes the selected rows unchanged (byte for byte) plus a side file a person can read, resumes after an
interruption, and prints its counts (see docs/selection.md). Its options are the dataclasses below
(and the library configs ``DecontamConfig``, ``DedupConfig``, ``EmbeddingConfig``); the parser is
built from them by :mod:`synth.cli_args`.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from skymath_tasks.jsonl_io import (
    DEFAULT_MAX_ROW_BYTES,
    ENV_MAX_ROW_BYTES,
    ON_ERROR_CHOICES,
    parse_size,
    row_byte_limit,
)
from synth.cli_args import Command, add_command, option
from synth.client import ClientOptions
from synth.selection.decontam import DecontamConfig
from synth.selection.dedup import DedupConfig
from synth.selection.embeddings import EmbeddingConfig

# --------------------------------------------------------------------------------------------------
# Options shared by the steps
# --------------------------------------------------------------------------------------------------


@dataclass
class StepOptions:
    """input and output"""

    input: str = option(positional=True, help="JSONL rows")
    output: str = option(flags=("-o", "--output"), metavar="FILE", help="kept rows (JSONL, lines copied unchanged)")
    overwrite: bool = option(False, help="start again instead of resuming (a finished run is otherwise not redone)")
    no_progress: bool = option(False, help="no progress bar", deprecated=("-q", "--quiet"))
    on_bad_row: str = option("fail", choices=ON_ERROR_CHOICES,
                             help="a malformed line (over the byte limit, not UTF-8, not JSON, a missing or mistyped "
                             "field): stop with file:line (fail; fix it and rerun: the run resumes there), or skip it "
                             "and list it in <output>.rejects.jsonl (skip)")
    max_row_bytes: int | None = option(None, type=parse_size, metavar="BYTES",
                                       help=f"longest line read, e.g. 16MiB (default: ${ENV_MAX_ROW_BYTES} or "
                                       f"{DEFAULT_MAX_ROW_BYTES // 2**20}MiB)")


@dataclass
class RandomControlOptions:
    """random control (the paper's same-size random selection)"""

    random_control: str | None = option(None, metavar="FILE",
                                        help="also write a random sample of the same size as the selection")
    seed: int = option(0, help="seed of the random sample")


def _finish(stats: dict, step: StepOptions, ctl: RandomControlOptions | None = None) -> int:
    """Write the random control of the selection's size when asked, print the counts."""
    if ctl is not None and ctl.random_control:
        from synth.selection.random_control import write_random_control

        if Path(ctl.random_control).resolve() in (Path(step.output).resolve(), Path(step.input).resolve()):
            raise ValueError(f"--random-control {ctl.random_control} must differ from the input and --output")

        with row_byte_limit(step.max_row_bytes):
            write_random_control(step.input, stats["kept"], ctl.random_control, seed=ctl.seed,
                                 overwrite=step.overwrite, on_bad_row=step.on_bad_row)
    print(json.dumps(stats, indent=2))
    return 0


# --------------------------------------------------------------------------------------------------
# decontaminate
# --------------------------------------------------------------------------------------------------


@dataclass
class DecontamStepOptions(StepOptions):
    """input and output"""

    output: str | None = option(None, flags=("-o", "--output"), metavar="FILE",
                                help="kept rows (JSONL, lines copied unchanged); not with --report-only")
    removed: str | None = option(None, metavar="FILE", help="report of removed rows (default: <output>.removed.jsonl)")
    report_only: bool = option(False, help="only report contamination; write no kept file")


@dataclass
class BenchmarkOptions:
    """benchmarks"""

    bench: list[str] | None = option(
        None, help="benchmark: gsm8k, math, math500, gsm8k_zh or NAME=PATH:problem_field[,more_fields][@id_field]; "
        "repeatable (default: gsm8k and math)")
    # registry: 14a (benchmark files and the default data folder come from synth.selection.decontam)
    data_dir: str | None = option(None, metavar="DIR",
                                  help="data folder with the benchmark test sets (default: $SKYMATH_DATA_DIR)")
    problems_only: bool = option(False, help="index only benchmark problems, not solutions")


def run_decontaminate(step: DecontamStepOptions, benches: BenchmarkOptions, cfg: DecontamConfig) -> int:
    from synth.selection.decontam import BenchmarkSpec, NgramIndex, contamination_markdown, decontaminate_file

    specs = [BenchmarkSpec.parse(b, benches.data_dir) for b in benches.bench or ["gsm8k", "math"]]
    if benches.problems_only:
        specs = [BenchmarkSpec(s.name, s.path, s.problem_field, (), s.id_field) for s in specs]
    if step.report_only:
        kept = None
        removed = Path(step.removed or f"{step.input}.contamination-{cfg.n}gram.jsonl")
    else:
        if not step.output:
            raise ValueError("--output is required (or --report-only)")
        kept = Path(step.output)
        removed = Path(step.removed or f"{step.output}.removed.jsonl")
    index = NgramIndex(specs, n=cfg.n, normalization=cfg.normalization)
    stats = decontaminate_file(step.input, index, kept, removed, cfg, overwrite=step.overwrite,
                               progress=not step.no_progress, on_bad_row=step.on_bad_row,
                               max_row_bytes=step.max_row_bytes)
    md = contamination_markdown(stats, index, step.input)
    md_path = removed.with_suffix(".md")
    md_path.write_text(md)
    print(md)
    print(f"rows {stats.rows}, kept {stats.kept}, removed {stats.removed} -> "
          f"{kept if kept else '(report only)'}; removed rows: {removed}; summary: {md_path}")
    if stats.rejected:
        print(f"skipped {stats.rejected} malformed line(s): {stats.rejects}")
    return 0


DECONTAMINATE = Command(
    "decontaminate", run=run_decontaminate, options=(DecontamStepOptions, BenchmarkOptions, DecontamConfig),
    help="remove rows sharing an n-gram (default 30) or the exact problem with benchmark test sets",
    description="N-gram decontamination against GSM8K/MATH test (paper: 30-gram). Also reports the "
    "contamination of any training file (--report-only).",
)


# --------------------------------------------------------------------------------------------------
# coreset
# --------------------------------------------------------------------------------------------------


@dataclass
class CoresetOptions:
    """core-set"""

    k: int | None = option(None, flags=("-k",), help="rows to select")
    fraction: float | None = option(None, help="or a fraction of the rows")
    text_field: str | None = option(None, help="field to embed (default: first of query, problem, question, instruction)")
    embeddings: str | None = option(None, metavar="FILE", help="precomputed (N, d) .npy aligned with the input rows")
    mode: str = option("exact", choices=("exact", "bucketed"), help="exact k-center greedy, or per bucket (millions of rows)")
    buckets: int = option(64, help="buckets of the bucketed mode")
    bucket_method: str = option("kmeans", choices=("kmeans", "rp"), help="k-means or random-projection buckets")
    seed: int = option(0, help="seed of the first centre and the buckets")


def run_coreset(step: StepOptions, opts: CoresetOptions, ecfg: EmbeddingConfig) -> int:
    from synth.selection.coreset import select_coreset_file

    with row_byte_limit(step.max_row_bytes):
        report = select_coreset_file(
            step.input, step.output, opts.k, fraction=opts.fraction, text_field=opts.text_field,
            embeddings=opts.embeddings, embedding_cfg=ecfg, mode=opts.mode, n_buckets=opts.buckets,
            bucket_method=opts.bucket_method, seed=opts.seed, device=ecfg.device, overwrite=step.overwrite,
            progress=not step.no_progress, on_bad_row=step.on_bad_row,
        )
    print(json.dumps({k: v for k, v in report.items() if k != "radius_per_k"}, indent=2))
    for r in report.get("radius_per_k", []):
        print(f"k={r['k']:>8}  radius={r['radius']:.4f}")
    return 0


CORESET = Command(
    "coreset", run=run_coreset, options=(StepOptions, CoresetOptions, EmbeddingConfig),
    help="diverse subset by k-center greedy on sentence embeddings",
    description="Core-set selection (Sener & Savarese) with coverage radius per k.",
)


# --------------------------------------------------------------------------------------------------
# select-hard
# --------------------------------------------------------------------------------------------------


@dataclass
class HardOptions:
    """hard problems"""

    by: str = option("level", choices=("level", "judge"), help="the seed's MATH level, or an LLM judge")
    min_level: int = option(4, help="keep level/difficulty >= this (1-5; default 4)")
    level_field: str = option("level", help="row field with the level (int or 'Level 5')")
    seeds: str | None = option(None, metavar="FILE",
                               help="seed JSONL ({id, level, ...}) joined on the row's seed id when rows have no level")
    seed_id_field: str = option("seed_id", help="row field with the seed id")
    text_field: str = option("query", help="problem field shown to the judge")


def run_select_hard(step: StepOptions, opts: HardOptions, ctl: RandomControlOptions, client: ClientOptions) -> int:
    from synth.selection import hard

    with row_byte_limit(step.max_row_bytes):
        if opts.by == "level":
            stats = hard.select_by_level(
                step.input, step.output, min_level=opts.min_level, level_field=opts.level_field,
                seeds_path=opts.seeds, seed_id_field=opts.seed_id_field, overwrite=step.overwrite,
                progress=not step.no_progress, on_bad_row=step.on_bad_row,
            )
        else:
            stats = hard.select_by_judge(
                step.input, step.output, client.to_config(), min_difficulty=opts.min_level,
                text_field=opts.text_field, overwrite=step.overwrite, progress=not step.no_progress,
                on_bad_row=step.on_bad_row,
            )
    return _finish(stats, step, ctl)


SELECT_HARD = Command(
    "select-hard", run=run_select_hard, options=(StepOptions, HardOptions, RandomControlOptions, ClientOptions),
    help="keep hard problems: MATH level of the seed, or an LLM judge",
    description="Hard-problem selection (paper table 5: GPT-4 with a CoT prompt picked ~360K).",
)


# --------------------------------------------------------------------------------------------------
# verify
# --------------------------------------------------------------------------------------------------


@dataclass
class VerifyOptions:
    """verifier"""

    verifier: str = option("answer", choices=("answer", "judge"), help="ground-truth answer agreement or an LLM judge")
    gold_field: str | None = option(None, help="row field with the ground-truth final answer")
    seeds: str | None = option(None, metavar="FILE", help="seed JSONL ({id, answer}) joined on the row's seed id")
    seed_id_field: str = option("seed_id", help="row field with the seed id")
    query_field: str = option("query", help="row field with the problem")
    response_field: str = option("response", help="row field with the solution")
    task: str = option("math", choices=("math", "gsm8k"), help="answer format of the grader")
    mode: str = option("strict", choices=("strict", "flexible"), help="grader mode")
    keep_ungraded: bool = option(True, help="keep rows without a ground truth (answer verifier; default: keep)")


def run_verify(step: StepOptions, opts: VerifyOptions, ctl: RandomControlOptions, client: ClientOptions) -> int:
    from synth.selection import verify

    with row_byte_limit(step.max_row_bytes):
        if opts.verifier == "answer":
            stats = verify.verify_by_answer(
                step.input, step.output, gold_field=opts.gold_field, seeds_path=opts.seeds,
                seed_id_field=opts.seed_id_field, response_field=opts.response_field, task=opts.task,
                mode=opts.mode, keep_ungraded=opts.keep_ungraded, overwrite=step.overwrite,
                progress=not step.no_progress, on_bad_row=step.on_bad_row,
            )
        else:
            stats = verify.verify_by_judge(
                step.input, step.output, client.to_config(), query_field=opts.query_field,
                response_field=opts.response_field, overwrite=step.overwrite, progress=not step.no_progress,
                on_bad_row=step.on_bad_row,
            )
    return _finish(stats, step, ctl)


VERIFY = Command(
    "verify", run=run_verify, options=(StepOptions, VerifyOptions, RandomControlOptions, ClientOptions),
    help="keep rows a verifier judges correct (records every verdict)",
    description="Verifier selection (paper table 4): ground-truth answer agreement or an LLM judge.",
)


# --------------------------------------------------------------------------------------------------
# dedup
# --------------------------------------------------------------------------------------------------


def run_dedup(step: StepOptions, cfg: DedupConfig) -> int:
    from synth.selection.dedup import dedup_file

    with row_byte_limit(step.max_row_bytes):
        stats = dedup_file(step.input, step.output, cfg, overwrite=step.overwrite, progress=not step.no_progress,
                           on_bad_row=step.on_bad_row)
    return _finish(stats, step)


DEDUP = Command(
    "dedup", run=run_dedup, options=(StepOptions, DedupConfig),
    help="remove near-duplicate rows (MinHash LSH), keeping the first of each group",
)

COMMANDS = (DECONTAMINATE, CORESET, SELECT_HARD, VERIFY, DEDUP)


def register(subparsers: argparse._SubParsersAction) -> None:
    for command in COMMANDS:
        add_command(subparsers, command)
