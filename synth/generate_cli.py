"""``skymath-synth generate --config run.yaml``: run (or resume) the two-stage synthesis pipeline.

Exit codes: 0 done; 1 finished, but some requests failed for good (rerun to retry them); 2 bad config
or data (the message names file, line and field); 3 a stage ended with no accepted row (the message
gives the rejection counts; nothing to train on).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from skymath_tasks.jsonl_io import parse_size
from synth.cli_args import Command, add_command, option

log = logging.getLogger(__name__)


@dataclass
class GenerateOptions:
    """run"""

    config: Path = option(metavar="FILE", help="run config YAML (see configs/synth/ and docs/synth.md)")
    dry_run: bool = option(False, help="load seeds, plan draws, estimate the first step's requests and cost; send nothing")
    limit: int | None = option(None, help="use only the first N seeds of each stage (smoke runs)")
    stage: list[str] | None = option(None, help="run only this stage (repeatable)")
    output_dir: Path | None = option(None, metavar="DIR", deprecated=("--out-dir",),
                                     help="override output_dir of the config")
    mode: str | None = option(None, choices=("online", "batch"), help="override mode of the config")
    base_url: str | None = option(None, help="override client.base_url, e.g. http://127.0.0.1:8000/v1")
    model: str | None = option(None, help="override client.model (a local server's served model name)")
    no_progress: bool = option(False, help="no progress bars (logs only)")
    repair: bool = option(False, help="a response cache with a corrupt line in the middle (edited or damaged): move its "
                          "bad lines to <cache>.bad.jsonl and re-send only those requests")
    max_row_bytes: int | None = option(None, type=parse_size, metavar="BYTES",
                                       help="longest seed row read, e.g. 16MiB (default: $SKYMATH_MAX_ROW_BYTES or "
                                       "64MiB)")


def run_generate(args: GenerateOptions) -> int:
    from skymath_tasks.jsonl_io import CorruptOutputError, DataError, repair_output_file, row_byte_limit
    from synth.client import RequestFailed
    from synth.pipeline import EmptyStageError, Pipeline, RunConfig, format_summary
    from synth.seeds import ContaminatedSeedError

    try:
        cfg = RunConfig.from_yaml(args.config)
    except (OSError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    if args.output_dir is not None:
        cfg.output_dir = args.output_dir
    if args.mode is not None:
        cfg.mode = args.mode
    if args.base_url is not None:
        cfg.client.base_url = args.base_url
    if args.model is not None:
        cfg.client.model = args.model
    if args.stage:
        names = {s.name for s in cfg.stages}
        unknown = sorted(set(args.stage) - names)
        if unknown:
            log.error("unknown stage(s) %s; the config has %s", unknown, sorted(names))
            return 2
        for s in cfg.stages:
            s.enabled = s.name in args.stage
    pipe = Pipeline(cfg, progress=not args.no_progress, limit=args.limit)
    repaired: set[str] = set()
    try:
        with row_byte_limit(args.max_row_bytes):
            if args.dry_run:
                print(json.dumps(pipe.dry_run(), indent=2, ensure_ascii=False))
                return 0
            while True:
                try:
                    summary = pipe.run()
                    break
                except CorruptOutputError as exc:
                    if not args.repair or exc.path in repaired:
                        raise
                    # the pipeline replays every generator against its caches, so rerunning it after the
                    # repair re-sends exactly the requests whose answers were on the bad lines
                    report = repair_output_file(exc.path)
                    repaired.add(exc.path)
                    log.warning("repaired %s: %d bad line(s) %s moved to %s; re-sending only those requests",
                                exc.path, len(report.bad_lines), report.bad_lines[:20], report.side_file)
    except EmptyStageError as exc:
        print(format_summary(exc.summary), file=sys.stderr)
        log.error("%s", exc)
        return 3
    except CorruptOutputError as exc:
        log.error("%s; rerun with --repair to set its bad lines aside and re-send only their requests", exc)
        return 2
    except (DataError, ContaminatedSeedError) as exc:
        log.error("%s", exc)
        return 2
    except RequestFailed as exc:  # bad key, no access, unknown model or base URL: nothing can succeed
        log.error("%s; check client.base_url, client.model and the API key (%s)", exc, cfg.client.api_key_env)
        return 2
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    print(format_summary(summary), file=sys.stderr)
    this_run = [summary["stages"][name] for name in summary.get("stages_this_run", [])]
    unfinished = sum(r.get("unfinished_request_failed", 0) for s in this_run
                     for k, r in s.items() if k.startswith("round"))
    if unfinished:
        log.warning("%d draws stopped on requests that failed for good (see *.errors.jsonl); rerun to retry them",
                    unfinished)
        return 1
    return 0


GENERATE = Command(
    "generate", run=run_generate, options=(GenerateOptions,),
    help="synthesise Skywork-MathQA-style data (stage 1 normal, stage 2 hard); rerun to resume",
    description="Run the synthesis pipeline described by a YAML config (see configs/synth/ and docs/synth.md). "
    "Safe to interrupt: a rerun with the same config sends only unanswered requests.",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    add_command(subparsers, GENERATE)
