"""``skymath-report``: paper tables and plots from lm-eval runs; leaderboard submissions and their check.

    skymath-report report  OUT_DIR_OF_LM_EVAL... --out report/        # tables (.md/.csv) + plots (.png)
    skymath-report tables  RUNS... --out report/ [--train-data LABEL=train.jsonl]
    skymath-report plots   RUNS... --out report/ [--size RUN_DIR=7500]
    skymath-report submit  RUNS... --out-dir submissions/ [--data-dir ../shared/data]
    skymath-report verify  submissions/model.submission.json [--data-dir ../shared/data]

See docs/report.md.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from skymath_tasks.jsonl_io import DataError
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


def _add_contamination(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train-data", action="append", metavar="KEY=PATH",
                   help="training data (JSONL) of a model (KEY = label or model id): adds the 30-gram overlap "
                        "with each task's test set; repeatable")
    p.add_argument("--train-fields", default=None,
                   help="comma-separated text fields of the training rows to scan (default: every string field)")
    p.add_argument("--data-dir", default=None, help="benchmark data folder (default: $SKYMATH_DATA_DIR)")


def _contamination(args: argparse.Namespace, models) -> dict | None:
    if not getattr(args, "train_data", None):
        return None
    from skymath_tasks.report.contamination import contamination_by_model

    fields = [f for f in args.train_fields.split(",") if f] if args.train_fields else None
    return contamination_by_model(models, args.train_data, data_dir=args.data_dir, fields=fields)


def cmd_tables(args: argparse.Namespace, with_plots: bool = False) -> int:
    from skymath_tasks.report.sizes import resolve_sizes
    from skymath_tasks.report.tables import all_tables, write_report

    models = load_models(args.runs, args.label)
    sizes = resolve_sizes(models, getattr(args, "size", None))
    tables = all_tables(models, sizes, _contamination(args, models))
    report = write_report(tables, args.out)
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
    made = all_plots(models, args.out, sizes, show_paper=not args.no_paper,
                     series=resolve_series(models, getattr(args, "series", None)))
    for p in made:
        print(f"wrote {p}")
    if not made:
        print("no plot: the runs have none of the tasks the plots need (see docs/report.md)")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from skymath_tasks.report.submission import build_submission, submission_filename

    models = load_models(args.runs, args.label)
    if args.out and len(models) != 1:
        raise ReportInputError(f"--out names one file but the runs hold {len(models)} models; use --out-dir")
    for m in models:
        out = Path(args.out) if args.out else Path(args.out_dir) / submission_filename(m)
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
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("tables", parents=[common], help="paper tables 1, 2, 6, 7, 12 and the criteria gap (Markdown + CSV)")
    _add_inputs(p)
    _add_sizes(p)
    _add_contamination(p)
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("plots", parents=[common], help="PNG plots: accuracy by level, vs distractors, vs SFT data size")
    _add_inputs(p)
    _add_sizes(p)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's reference curves")
    p.set_defaults(func=cmd_plots)

    p = sub.add_parser("report", parents=[common], help="tables and plots in one go")
    _add_inputs(p)
    _add_sizes(p)
    _add_contamination(p)
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--no-paper", action="store_true", help="leave out the paper's reference curves")
    p.set_defaults(func=lambda a: cmd_tables(a, with_plots=True))

    p = sub.add_parser("submit", parents=[common], help="write a submission JSON per model")
    _add_inputs(p)
    p.add_argument("--out", help="submission file (only when the runs hold one model)")
    p.add_argument("--out-dir", default=".", help="directory for <label>.submission.json (default: .)")
    p.add_argument("--data-dir", default=None,
                   help="evaluation data folder to hash (default: $SKYMATH_DATA_DIR; unset = Hub datasets)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("verify", parents=[common], help="re-grade a submission's samples and check its metrics and hashes")
    p.add_argument("submission", nargs="+")
    p.add_argument("--data-dir", default=None, help="evaluation data folder (default: $SKYMATH_DATA_DIR, "
                   "else the folder recorded in the submission)")
    p.add_argument("--samples-dir", default=None, help="folder now holding the per-sample logs, if they moved")
    p.set_defaults(func=cmd_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except (ReportInputError, DataError, FileNotFoundError) as exc:
        print(f"skymath-report: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
