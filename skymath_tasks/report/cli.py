"""``skymath-report``: paper tables and plots from lm-eval runs; leaderboard submissions and their check.

    skymath-report report  LM_EVAL_OUTPUT... --output-dir report/   # tables (.md/.csv) + plots (.png)
    skymath-report tables  RUNS... --output-dir report/ [--contamination LABEL=train.jsonl.contamination-30gram.jsonl]
    skymath-report plots   RUNS... --output-dir report/ [--size RUN_DIR=7500]
    skymath-report submit  RUNS... --output-dir submissions/ [--data-dir ../shared/data]   (or -o FILE)
    skymath-report verify  submissions/model.submission.json [--data-dir ../shared/data] [--regenerate K --model-args ...]
    skymath-report leaderboard submissions/*.submission.json --output-dir site/ [--data-dir ../shared/data]

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
    from skymath_tasks.report.submission import build_submission, bundle_dir, read_contamination, submission_filename

    models = load_models(args.runs, args.label)
    if args.output and len(models) != 1:
        raise ReportInputError(f"--output names one file but the runs hold {len(models)} models; use --output-dir")
    if args.contamination_summary and len(models) != 1:
        raise ReportInputError(f"--contamination-summary describes one model but the runs hold {len(models)}")
    contamination = None
    if args.contamination_summary and Path(args.contamination_summary).is_dir():
        from skymath_tasks.report.contamination import probe_summary

        contamination = probe_summary(args.contamination_summary, model=models[0].model_id)
        if contamination is None:
            raise ReportInputError(f"{args.contamination_summary}: no contamination probe run of {models[0].label} "
                                   "there (lm_eval --tasks skymath_contam_gsm8k ... --output_path DIR)")
    elif args.contamination_summary:
        contamination = read_contamination(args.contamination_summary)
    for m in models:
        out = Path(args.output) if args.output else Path(args.output_dir) / submission_filename(m)
        notes: list[str] = []
        sub = build_submission(m, out, data_dir=args.data_dir, contamination=contamination, notes=notes)
        for note in notes:
            print(f"note: {note}")
        pinned = len(sub["data"]["files"]) + len(sub["data"]["hub"])
        print(f"wrote {out} and {bundle_dir(out)}/: {m.label}, {len(sub['tasks'])} task(s), {pinned} data source(s) "
              f"pinned, {sub['status']}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from skymath_tasks.report.verify import verify_submission

    if args.regenerate is not None and args.regenerate < 1:
        raise ReportInputError("--regenerate K needs K >= 1")
    failed = 0
    for path in args.submission:
        report = verify_submission(path, data_dir=args.data_dir, samples_dir=args.samples_dir)
        print(report.render(verbose=args.verbose))
        bad = not report.ok or (args.require_complete and report.status != "complete")
        if args.regenerate and report.ok:
            from skymath_tasks.report.regenerate import regenerate
            from skymath_tasks.report.submission import _data_dir

            result = regenerate(report.submission, report.samples, args.regenerate, data_dir=_data_dir(args.data_dir),
                                model=args.model, model_args=args.model_args, seed=args.seed,
                                batch_size=args.batch_size, device=args.device, tolerance=args.regenerate_tolerance)
            print(result.render())
            bad |= not result.ok
        failed += bad
    return 1 if failed else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from skymath_tasks.report.leaderboard import build_site

    site = build_site(args.submission, args.output_dir, data_dir=args.data_dir, show_paper=not args.no_paper)
    for line in site.lines():
        print(line)
    return 0 if not site.rejected else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skymath-report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="store_true", help="log progress; verify: list every check")
    common.add_argument("--max-row-bytes", metavar="BYTES", default=None, type=parse_size,
                        help=f"longest row (or JSON file) read, e.g. 16MiB (default ${ENV_MAX_ROW_BYTES} or 64MiB)")
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

    p.add_argument("--contamination-summary", metavar="FILE|DIR", default=None,
                   help='contamination probe summary to attach: a JSON file ({"gap", "interval", "reading", "n_items", '
                   '"method"}) or the lm_eval --output_path of a skymath_contam_* run of the same model (a probe task '
                   'in the submitted runs themselves is used without this flag)')
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("verify", parents=[common],
                       help="check a submission against the official data: re-grade every sample, recompute every metric")
    p.add_argument("submission", nargs="+")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help=f"your copy of the official data, checked against SkyMath's pins (default: ${ENV_VAR}; "
                        "unset = the Hub). A folder named in the submission is never used")
    p.add_argument("--samples-dir", metavar="DIR", default=None,
                   help="folder now holding the bundle's files (results_*.json, samples_*.jsonl), if they moved")
    p.add_argument("--require-complete", action="store_true",
                   help="exit 1 for a partial (--limit) submission too, not only for a failed one")
    g = p.add_argument_group("spot re-generation (needs the model)")
    g.add_argument("--regenerate", type=int, metavar="K", default=None,
                   help="re-run K randomly chosen problems with the model through lm-eval (greedy) and compare the answers")
    g.add_argument("--model-args", metavar="ARGS", default=None,
                   help="lm-eval --model_args for the re-run (default: the submission's; required for a local model)")
    g.add_argument("--model", metavar="BACKEND", default=None, help="lm-eval --model for the re-run (default: the submission's)")
    g.add_argument("--seed", type=int, default=None, help="seed of the random draw (default: random, printed)")
    g.add_argument("--batch-size", default=1, help="lm-eval --batch_size for the re-run (default 1)")
    g.add_argument("--device", default=None, help="lm-eval --device for the re-run")
    g.add_argument("--regenerate-tolerance", type=int, metavar="N", default=0,
                   help="how many of the K may give another answer (hardware nondeterminism; default 0)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("leaderboard", parents=[common],
                       help="static leaderboard site (HTML/CSS/JS, works offline) from verified submissions")
    p.add_argument("submission", nargs="+", help="*.submission.json files (each with its bundle folder)")
    _add_output_dir(p, "folder for the site (required)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help=f"your copy of the official data, for verifying (default: ${ENV_VAR}; unset = the Hub)")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's reference rows")
    p.set_defaults(func=cmd_leaderboard)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("tables", "plots", "report", "leaderboard") and not args.output_dir:
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
