"""``skymath-report``: paper tables and plots from lm-eval runs; leaderboard submissions and their check.

    skymath-report report  LM_EVAL_OUTPUT... --output-dir report/   # tables (.md/.csv) + plots (.png)
    skymath-report tables  RUNS... --output-dir report/ [--contamination LABEL=train.jsonl.contamination-30gram.jsonl]
    skymath-report plots   RUNS... --output-dir report/ [--size RUN_DIR=7500]
    skymath-report submit  RUNS... --output-dir submissions/ [--data-dir ../shared/data]   (or -o FILE)
    skymath-report verify  submissions/model.submission.json [--data-dir ../shared/data]

Flags follow the project's style (skymath_tasks.cli_options): --data-dir DIR read, --output-dir DIR
written, -o/--output FILE written; --out and --out-dir still work for one release, with a warning.
See docs/report.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from skymath_tasks.benchmarks import ENV_VAR, DataUnavailable, data_dir
from skymath_tasks.cli_options import add_deprecated_alias
from skymath_tasks.jsonl_io import ENV_MAX_ROW_BYTES, DataError, parse_size, row_byte_limit
from skymath_tasks.report.loader import ReportInputError, load_models

log = logging.getLogger("skymath.report")


def _add_inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", help="lm-eval --output_path directories (searched recursively) or results_*.json files")
    p.add_argument("--label", action="append", metavar="DIR=NAME",
                   help="name the model whose runs are under DIR (default: its model id); repeatable")


def _add_sizes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", action="append", metavar="KEY=N",
                   help="SFT data size (training rows) of a model; KEY = label, model id or run directory. "
                        "Default: read from skymath_stage.json in the checkpoint folder; repeatable")
    p.add_argument("--series", action="append", metavar="KEY=NAME",
                   help="scaling plot: put this model on the curve NAME (e.g. its base model); repeatable")


def _add_output_dir(p: argparse.ArgumentParser, help: str, default: str | None = None, old: str = "--out") -> None:
    p.add_argument("--output-dir", metavar="DIR", default=default, help=help)
    add_deprecated_alias(p, old, "--output-dir", "output_dir")


def _add_contamination(p: argparse.ArgumentParser) -> None:
    p.add_argument("--contamination", action="append", metavar="KEY=REPORT",
                   help="a model's training data checked by `skymath-synth decontaminate --report-only --input "
                        "TRAIN.jsonl` (KEY = label or model id, REPORT = the matched-rows JSONL it writes): adds "
                        "the 30-gram overlap with each task's test set; repeatable")
    p.add_argument("--train-data", dest="train_data", action="append", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help=f"benchmark data folder, for the test-set sizes (default: ${ENV_VAR})")


def _contamination(args: argparse.Namespace, models) -> dict | None:
    if getattr(args, "train_data", None):
        raise ReportInputError(
            "--train-data was replaced by --contamination: run `skymath-synth decontaminate --report-only "
            "--input TRAIN.jsonl` and pass the report it writes (the report shows what the data filter finds)")
    if not getattr(args, "contamination", None):
        return None
    from skymath_tasks.report.contamination import contamination_by_model

    return contamination_by_model(models, args.contamination, data_dir=data_dir(args.data_dir))


def cmd_tables(args: argparse.Namespace, with_plots: bool = False) -> int:
    from skymath_tasks.report.sizes import resolve_sizes
    from skymath_tasks.report.tables import all_tables, write_report

    models = load_models(args.runs, args.label)
    sizes = resolve_sizes(models, getattr(args, "size", None))
    tables = all_tables(models, sizes, _contamination(args, models))
    report = write_report(tables, args.output_dir)
    print(f"{len(models)} model(s): {', '.join(m.label for m in models)}")
    print(f"wrote {len(tables)} tables (.md and .csv) and {report}")
    if with_plots:
        return cmd_plots(args, models=models, sizes=sizes)
    return 0


def cmd_plots(args: argparse.Namespace, models=None, sizes=None) -> int:
    from skymath_tasks.report.plots import all_plots
    from skymath_tasks.report.sizes import resolve_series, resolve_sizes

    if models is None:
        models = load_models(args.runs, args.label)
    if sizes is None:
        sizes = resolve_sizes(models, args.size)
    made = all_plots(models, args.output_dir, sizes, show_paper=not args.no_paper,
                     series=resolve_series(models, getattr(args, "series", None)))
    for p in made:
        print(f"wrote {p}")
    if not made:
        print("no plot: the runs have none of the tasks the plots need (see docs/report.md)")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from skymath_tasks.report.submission import build_submission, submission_filename

    models = load_models(args.runs, args.label)
    if args.output and len(models) != 1:
        raise ReportInputError(f"--output names one file but the runs hold {len(models)} models; use --output-dir")
    for m in models:
        out = Path(args.output) if args.output else Path(args.output_dir) / submission_filename(m)
        sub = build_submission(m, out, data_dir=args.data_dir)
        print(f"wrote {out}: {m.label}, {len(sub['tasks'])} task(s), {len(sub['data']['files'])} data file(s) pinned")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from skymath_tasks.report.submission import verify_submission

    failed = 0
    for path in args.submission:
        report = verify_submission(path, data_dir=args.data_dir, samples_dir=args.samples_dir)
        print(report.render() if args.verbose else "\n".join(
            line for line in report.render().splitlines() if "checked:" not in line))
        failed += not report.ok
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skymath-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log progress; verify: list every check")
    common.add_argument("--max-row-bytes", metavar="BYTES", default=None, type=parse_size,
                        help=f"longest row (or JSON file) read, e.g. 64MiB (default ${ENV_MAX_ROW_BYTES} or 16MiB)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tables", parents=[common], help="paper tables 1, 2, 6, 7, 12 and the criteria gap (Markdown + CSV)")
    _add_inputs(p)
    _add_sizes(p)
    _add_contamination(p)
    _add_output_dir(p, "folder for the tables (required)")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("plots", parents=[common], help="PNG plots: accuracy by level, vs distractors, vs SFT data size")
    _add_inputs(p)
    _add_sizes(p)
    _add_output_dir(p, "folder for the plots (required)")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's reference curves")
    p.set_defaults(func=cmd_plots)

    p = sub.add_parser("report", parents=[common], help="tables and plots in one go")
    _add_inputs(p)
    _add_sizes(p)
    _add_contamination(p)
    _add_output_dir(p, "folder for the tables and plots (required)")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's reference curves")
    p.set_defaults(func=lambda a: cmd_tables(a, with_plots=True))

    p = sub.add_parser("submit", parents=[common], help="write a submission JSON per model")
    _add_inputs(p)
    p.add_argument("-o", "--output", metavar="FILE", help="submission file (only when the runs hold one model)")
    add_deprecated_alias(p, "--out", "--output", "output")
    _add_output_dir(p, "folder for <label>.submission.json (default: .)", default=".", old="--out-dir")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help=f"evaluation data folder to hash (default: ${ENV_VAR}; unset = Hub datasets)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("verify", parents=[common], help="re-grade a submission's samples and check its metrics and hashes")
    p.add_argument("submission", nargs="+")
    p.add_argument("--data-dir", metavar="DIR", default=None, help=f"evaluation data folder (default: ${ENV_VAR}, "
                   "else the folder recorded in the submission)")
    p.add_argument("--samples-dir", metavar="DIR", default=None,
                   help="folder now holding the per-sample logs, if they moved")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("tables", "plots", "report") and not args.output_dir:
        parser.error(f"{args.command}: --output-dir DIR is required")
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with row_byte_limit(args.max_row_bytes):
            return int(args.func(args))
    except (ReportInputError, DataError, DataUnavailable, FileNotFoundError) as exc:
        print(f"skymath-report: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
