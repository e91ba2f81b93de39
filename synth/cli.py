"""`skymath-synth`: one command, subcommands contributed by the modules that own them.

Each module in ``_SUBCOMMAND_MODULES`` exposes ``register(subparsers)`` which adds its subcommands and
sets ``func`` on each; this file only dispatches, so areas (generation, selection, evaluation data)
evolve without touching each other.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

_SUBCOMMAND_MODULES: tuple[str, ...] = (
    "synth.generate_cli",  # generate (issue: synthesis pipeline)
    "synth.selection.cli",  # decontaminate, coreset, select-hard, verify, dedup
    "synth.eval_data_cli",  # distractors, translate, build-eval-data
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skymath-synth", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from synth.client import quiet_http_logging

    quiet_http_logging(args.verbose)  # one HTTP log line per request only with --verbose
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
