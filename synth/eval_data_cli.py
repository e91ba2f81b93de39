"""Subcommands of ``skymath-synth`` for derived evaluation data: distractors, translate, build-eval-data.

The derived test files live in the ``SKYMATH_DATA_DIR`` layout next to the benchmark files they come
from, so the lm-eval tasks find them offline::

    gsm8k/test.jsonl                      math/test.jsonl           (inputs, copied by build-eval-data)
    distractors/gsm8k_test_distractor_{1..5}.jsonl + distractors/MANIFEST.json (sha256 per file, seed)
    chinese/gsm8k_test_zh.jsonl           math/test_zh.jsonl        (translations)

See docs/robustness.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skymath_tasks.benchmarks import BENCHMARKS, DISTRACTOR_FILE as _DISTRACTOR_PATH, ENV_VAR as DATA_ENV, layout_hint
from skymath_tasks.distractors import DEFAULT_SEED, K_MAX
from skymath_tasks.jsonl_io import file_sha256, read_jsonl, write_jsonl
from synth.cli_args import Command, add_command, option
from synth.client import ClientOptions, GreedyClientOptions, SampledClientOptions

log = logging.getLogger(__name__)

# Paths of the data-folder layout, from the one benchmark registry (skymath_tasks.benchmarks).
GSM8K_TEST = BENCHMARKS["gsm8k"].local
MATH_TEST = BENCHMARKS["math"].local
DISTRACTOR_DIR, DISTRACTOR_FILE = _DISTRACTOR_PATH.rsplit("/", 1)
MANIFEST = "MANIFEST.json"
GSM8K_ZH = BENCHMARKS["gsm8k_zh"].local
MATH_ZH = BENCHMARKS["math_zh"].local
#: Benchmark files that build-eval-data carries over into --output-dir when present in the input folder: every
#: registry file that is not built here (distractors, translations) or shipped with the package.
BASE_FILES = tuple(b.local for b in BENCHMARKS.values()
                   if not b.derived_from and not b.packaged and b.local != MATH_ZH)


def _data_dir(value: str | None, *, what: str) -> Path:
    raw = value or os.environ.get(DATA_ENV)
    if not raw:
        raise ValueError(f"no input data folder for {what}: pass --data-dir or set {DATA_ENV} ({layout_hint()})")
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"data folder {path} does not exist")
    return path


def _input_file(opts: Any, rel: str, *, what: str) -> Path:
    if getattr(opts, "input", None):
        path = Path(opts.input)
    else:
        path = _data_dir(opts.data_dir, what=what) / rel
    if not path.exists():
        raise FileNotFoundError(f"{what}: input file {path} not found")
    return path


# --------------------------------------------------------------------------------------------------
# distractors
# --------------------------------------------------------------------------------------------------


def write_distractor_files(gsm8k_rows: list[dict[str, Any]], out_dir: Path, *, seed: int | str, k_max: int = 5,
                           source: Path | None = None, mode: str = "offline", client: Any = None,
                           progress: bool = False) -> dict[str, Any]:
    """Write ``distractors/gsm8k_test_distractor_{k}.jsonl`` (k = 1..k_max) and ``distractors/MANIFEST.json``
    under ``out_dir``; return the manifest. No timestamps anywhere: one seed gives identical bytes."""
    from skymath_tasks.distractors import GENERATOR_VERSION, build_all_distractor_rows
    from synth.distractors import LLM_GENERATOR_VERSION, build_llm_distractor_rows

    target = out_dir / DISTRACTOR_DIR
    target.mkdir(parents=True, exist_ok=True)
    if mode == "offline":
        levels = build_all_distractor_rows(gsm8k_rows, seed=seed, k_max=k_max)
        generator = GENERATOR_VERSION
    elif mode == "llm":
        raw = target / "gsm8k_test_distractor_llm.raw.jsonl"
        levels = build_llm_distractor_rows(gsm8k_rows, client, output_path=raw, seed=seed, k_max=k_max,
                                           progress=progress)
        generator = f"{LLM_GENERATOR_VERSION}:{client.config.model}"
    else:
        raise ValueError(f"unknown distractor mode {mode!r} (offline or llm)")
    files: dict[str, Any] = {}
    for k, rows in levels.items():
        name = DISTRACTOR_FILE.format(k=k)
        path = target / name
        n = write_jsonl(path, rows)
        files[name] = {"k": k, "rows": n, "sha256": file_sha256(path)}
    manifest = {
        "generator": generator,
        "mode": mode,
        "seed": seed,
        "k_max": k_max,
        "source": {"file": GSM8K_TEST, "rows": len(gsm8k_rows),
                   "sha256": file_sha256(source) if source else None},
        "files": files,
    }
    if mode == "llm":
        manifest["llm_missing"] = sum(1 for r in levels[1] if not r.get("llm_reply", True))
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _seed(value: str) -> int | str:
    return int(value) if value.lstrip("-").isdigit() else value


def _client(options: ClientOptions) -> Any:
    from synth.client import ChatClient

    return ChatClient(options.to_config())


@dataclass
class DistractorOptions:
    """distractors"""

    data_dir: str | None = option(None, metavar="DIR", help=f"input folder in the shared-data layout (default ${DATA_ENV})")
    input: str | None = option(None, metavar="FILE", help=f"GSM8K test JSONL (default <data-dir>/{GSM8K_TEST})")
    output_dir: str | None = option(None, metavar="DIR", deprecated=("--out",),
                                    help="output folder (default: the data folder)")
    seed: int | str = option(DEFAULT_SEED, type=_seed, help=f"int or string (default {DEFAULT_SEED})")
    k_max: int = option(K_MAX, help=f"distractor levels to write, 1..k_max (default {K_MAX})")
    mode: str = option("offline", choices=("offline", "llm"),
                       help="offline: seeded templates (default, identical for every user); llm: model-written, checked")
    no_progress: bool = option(False, help="no progress bar")


def cmd_distractors(opts: DistractorOptions, client_opts: SampledClientOptions) -> int:
    if not 1 <= opts.k_max <= K_MAX:
        raise ValueError(f"--k-max must be in 1..{K_MAX}")
    source = _input_file(opts, GSM8K_TEST, what="distractors")
    rows = read_jsonl(source, required=("question", "answer"), types={"question": str, "answer": str})
    out = Path(opts.output_dir) if opts.output_dir else _data_dir(opts.data_dir, what="distractors")
    client = _client(client_opts) if opts.mode == "llm" else None
    manifest = write_distractor_files(rows, out, seed=opts.seed, k_max=opts.k_max, source=source, mode=opts.mode,
                                      client=client, progress=not opts.no_progress)
    for name, info in manifest["files"].items():
        print(f"{out / DISTRACTOR_DIR / name}: {info['rows']} rows, sha256 {info['sha256'][:16]}")
    if manifest.get("llm_missing"):
        print(f"{manifest['llm_missing']} problem(s) got no model reply and use template distractors only; "
              "rerun the same command to ask for them again", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# translate
# --------------------------------------------------------------------------------------------------


def translate_dataset(dataset: str, source: Path, out_dir: Path, client: Any, *, lang: str = "zh",
                      limit: int | None = None, max_attempts: int = 3, progress: bool = True) -> tuple[Path, dict[str, int]]:
    """Translate GSM8K or MATH test into ``out_dir`` (layout paths above); returns the path and counts."""
    from synth import translate as T

    if dataset == "gsm8k":
        rows = read_jsonl(source, required=("question", "answer"), types={"question": str, "answer": str})
        out_path = out_dir / (GSM8K_ZH if lang == "zh" else f"chinese/gsm8k_test_{lang}.jsonl")
        fn = T.translate_gsm8k_rows
    elif dataset == "math":
        rows = read_jsonl(source, required=("problem", "solution"), types={"problem": str, "solution": str})
        out_path = out_dir / (MATH_ZH if lang == "zh" else f"math/test_{lang}.jsonl")
        fn = T.translate_math_rows
    else:
        raise ValueError(f"unknown dataset {dataset!r} (gsm8k or math)")
    if limit is not None:
        rows = rows[:limit]
    out_path.parent.mkdir(parents=True, exist_ok=True)
    translated = fn(rows, client, raw_path=T.default_raw_path(out_path), lang=lang, max_attempts=max_attempts,
                    progress=progress)
    write_jsonl(out_path, translated)
    counts = {
        "rows": len(translated),
        "flagged": sum(1 for r in translated if r["translation_check"]),
        "no_reply": sum(1 for r in translated if "no reply from the model" in r["translation_check"]),
    }
    return out_path, counts


@dataclass
class TranslateOptions:
    """translation"""

    dataset: str = option("math", choices=("gsm8k", "math"), help="benchmark to translate")
    lang: str = option("zh", choices=("zh",), help="target language")
    data_dir: str | None = option(None, metavar="DIR", help=f"input folder in the shared-data layout (default ${DATA_ENV})")
    input: str | None = option(None, metavar="FILE",
                               help="input JSONL instead of <data-dir>/gsm8k/test.jsonl or math/test.jsonl")
    output_dir: str | None = option(None, metavar="DIR", deprecated=("--out",),
                                    help="output folder (default: the data folder)")
    limit: int | None = option(None, help="only the first N problems (trial runs)")
    max_attempts: int = option(3, help="attempts per problem while the check fails (default 3)")
    no_progress: bool = option(False, help="no progress bar")


def cmd_translate(opts: TranslateOptions, client_opts: GreedyClientOptions) -> int:
    rel = GSM8K_TEST if opts.dataset == "gsm8k" else MATH_TEST
    source = _input_file(opts, rel, what="translate")
    out = Path(opts.output_dir) if opts.output_dir else _data_dir(opts.data_dir, what="translate")
    out_path, counts = translate_dataset(opts.dataset, source, out, _client(client_opts), lang=opts.lang,
                                         limit=opts.limit, max_attempts=opts.max_attempts,
                                         progress=not opts.no_progress)
    print(f"{out_path}: {counts['rows']} rows, {counts['flagged']} flagged by the check "
          f"(field 'translation_check'), {counts['no_reply']} without a reply")
    if counts["no_reply"]:
        print("some requests failed for good; rerun the same command to ask for them again", file=sys.stderr)
        return 1
    return 0


# --------------------------------------------------------------------------------------------------
# build-eval-data
# --------------------------------------------------------------------------------------------------


@dataclass
class BuildEvalDataOptions:
    """evaluation data"""

    output_dir: str = option(metavar="DIR", deprecated=("--out",),
                             help=f"output folder (then: export {DATA_ENV}=<output-dir>)")
    data_dir: str | None = option(None, metavar="DIR", help=f"input folder in the shared-data layout (default ${DATA_ENV})")
    seed: int | str = option(DEFAULT_SEED, type=_seed, help=f"distractor seed, int or string (default {DEFAULT_SEED})")
    limit: int | None = option(None, help="translate only the first N problems (trial runs)")
    max_attempts: int = option(3, help="attempts per problem while the translation check fails (default 3)")
    retranslate_gsm8k: bool = option(False, help=f"translate GSM8K ourselves even when {GSM8K_ZH} (GPT-4, Yuan-2.0) "
                                     "is present")
    no_progress: bool = option(False, help="no progress bar")


def cmd_build_eval_data(opts: BuildEvalDataOptions, client_opts: GreedyClientOptions) -> int:
    src = _data_dir(opts.data_dir, what="build-eval-data")
    out = Path(opts.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    same = src.resolve() == out.resolve()
    built: list[tuple[str, str]] = []
    if not (src / GSM8K_TEST).exists():
        raise FileNotFoundError(f"build-eval-data: {src / GSM8K_TEST} not found")
    for rel in BASE_FILES:
        if (src / rel).exists() and not same:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, out / rel)
            built.append((rel, "copied"))
    rows = read_jsonl(src / GSM8K_TEST, required=("question", "answer"), types={"question": str, "answer": str})
    manifest = write_distractor_files(rows, out, seed=opts.seed, source=src / GSM8K_TEST)
    built += [(f"{DISTRACTOR_DIR}/{n}", f"built, sha256 {i['sha256'][:16]}") for n, i in manifest["files"].items()]
    built.append((f"{DISTRACTOR_DIR}/{MANIFEST}", "built"))
    status = 0
    if client_opts.endpoint_given():
        client = _client(client_opts)
        jobs = []
        if (src / MATH_TEST).exists():
            jobs.append(("math", src / MATH_TEST))
        if opts.retranslate_gsm8k or not (src / GSM8K_ZH).exists():
            jobs.append(("gsm8k", src / GSM8K_TEST))
        else:
            log.info("keeping the existing GPT-4 translation %s (pass --retranslate-gsm8k to make our own)", GSM8K_ZH)
        for dataset, path in jobs:
            out_path, counts = translate_dataset(dataset, path, out, client, limit=opts.limit,
                                                 max_attempts=opts.max_attempts, progress=not opts.no_progress)
            built.append((str(out_path.relative_to(out)),
                          f"translated: {counts['rows']} rows, {counts['flagged']} flagged, {counts['no_reply']} no reply"))
            if counts["no_reply"]:
                status = 1
    else:
        log.info("no endpoint configured (--base-url/--client-config): translations skipped")
        built.append((MATH_ZH, "skipped: no endpoint configured"))
    width = max(len(r) for r, _ in built)
    for rel, what in built:
        print(f"{rel:<{width}}  {what}")
    print(f"\nexport {DATA_ENV}={out.resolve()}")
    return status


# --------------------------------------------------------------------------------------------------
# registration
# --------------------------------------------------------------------------------------------------

COMMANDS = (
    Command("distractors", run=cmd_distractors, options=(DistractorOptions, SampledClientOptions),
            help="GSM8K test with 1-5 irrelevant sentences (CMATH-style robustness test)",
            description="Writes distractors/gsm8k_test_distractor_{k}.jsonl (k=1..5) and distractors/MANIFEST.json."),
    Command("translate", run=cmd_translate, options=(TranslateOptions, GreedyClientOptions),
            help="translate GSM8K or MATH test (LaTeX, numbers and units checked)",
            description="Writes chinese/gsm8k_test_zh.jsonl or math/test_zh.jsonl; resumable (raw replies in "
            "<output>.raw.jsonl)."),
    Command("build-eval-data", run=cmd_build_eval_data, options=(BuildEvalDataOptions, GreedyClientOptions),
            help=f"build every derived test file into a {DATA_ENV} folder",
            description="Copies the benchmark files, builds the distractor files, and the translations when an "
            "endpoint is configured (--base-url or --client-config)."),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    for command in COMMANDS:
        add_command(subparsers, command)
