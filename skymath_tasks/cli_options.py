"""The one command-line flag style of every ``skymath-*`` command, and its deprecated aliases.

Convention (docs/architecture.md, "Command lines"):

* long options are kebab-case: ``--data-dir``, ``--samples-dir``, ``--no-paper``;
* ``--data-dir DIR`` is a folder read (default ``$SKYMATH_DATA_DIR``), ``--output-dir DIR`` a folder
  written, ``-o/--output FILE`` a file written;
* an old spelling stays for one release as a hidden alias that still works and prints a deprecation
  warning on stderr (:func:`add_deprecated_alias`).

Core layer: argparse only.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def warn_deprecated(prog: str, old: str, new: str) -> None:
    print(f"{prog}: warning: {old} is deprecated and will be removed in the next release; use {new}",
          file=sys.stderr)


class DeprecatedAlias(argparse.Action):
    """A hidden old spelling: warns, then stores exactly as the option it stands for would."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any):
        self.new = new
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn_deprecated(parser.prog, option_string or self.option_strings[0], self.new)
        setattr(namespace, self.dest, values)


def add_deprecated_alias(parser: argparse.ArgumentParser | Any, old: str, new: str, dest: str) -> None:
    """Accept ``old`` (hidden from --help) as a deprecated spelling of the option ``new`` (stored in ``dest``)."""
    parser.add_argument(old, dest=dest, action=DeprecatedAlias, new=new, help=argparse.SUPPRESS,
                        default=argparse.SUPPRESS)


__all__ = ["warn_deprecated", "DeprecatedAlias", "add_deprecated_alias"]
