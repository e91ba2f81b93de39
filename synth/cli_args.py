"""Command-line options built from dataclasses, in the one flag style of ``skymath-synth``.

Why: a subcommand's options used to be a hand-written list of ``add_argument`` calls, repeated where
commands share options (the endpoint options twice) and free to drift in spelling (``--out``,
``--out-dir``, ``-o``). Here, as with ``HfArgumentParser``/``TrlParser`` for ``skymath-train``, the
dataclasses *are* the options: a command lists the dataclasses it takes, the parser is built from
their fields (type, default, help, choices), and the parsed values come back as instances of them.
Library configs (``DedupConfig``, ``DecontamConfig``, ``EmbeddingConfig``) drive their commands directly.

The flag style (docs/architecture-synth.md):

* long options are kebab-case, made from the field name: ``data_dir`` -> ``--data-dir``;
* ``--data-dir DIR`` is a folder read, ``--output-dir DIR`` a folder written, ``-o/--output FILE`` a
  file written; ``--no-progress`` turns progress bars off;
* an old spelling stays for one release as a hidden alias (``deprecated=("--out",)``) that still works
  and prints a deprecation warning on stderr.

Field metadata (set through :func:`option`): ``help``, ``flags`` (option strings instead of the
generated one), ``positional``, ``choices``, ``type`` (a converter), ``metavar``, ``deprecated``.
Types: ``str``, ``int``, ``float``, ``Path``, ``bool`` (``--x`` when the default is False, ``--x/--no-x``
when True), ``tuple[str, ...]`` (comma-separated), ``list[str]`` (repeatable), and ``X | None``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass
from typing import Any

from skymath_tasks.jsonl_io import DataError


def option(
    default: Any = MISSING,
    *,
    help: str,
    flags: Sequence[str] = (),
    positional: bool = False,
    choices: Sequence[Any] | None = None,
    type: Callable[[str], Any] | None = None,
    metavar: str | None = None,
    deprecated: Sequence[str] = (),
    default_factory: Callable[[], Any] | Any = MISSING,
) -> Any:
    """A dataclass field that is also a command-line option (see the module docstring)."""
    meta = {"help": help, "flags": tuple(flags), "positional": positional, "choices": choices, "type": type,
            "metavar": metavar, "deprecated": tuple(deprecated)}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def warn_deprecated(prog: str, old: str, new: str) -> None:
    print(f"{prog}: warning: {old} is deprecated and will be removed in the next release; use {new}",
          file=sys.stderr)


class _DeprecatedAlias(argparse.Action):
    """A hidden old spelling: warns, then stores exactly as the option it stands for would."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, kind: str, **kwargs: Any):
        self.new, self.kind = new, kind
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        warn_deprecated(parser.prog, option_string or self.option_strings[0], self.new)
        if self.kind == "append":
            setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), values])
        elif self.kind == "const":
            setattr(namespace, self.dest, self.const)
        else:
            setattr(namespace, self.dest, values)


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _comma_tuple(value: str) -> tuple[str, ...] | None:
    out = tuple(f.strip() for f in value.split(",") if f.strip())
    return out or None


def long_flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add one argument per field of dataclass ``cls`` (in a group titled by its docstring's first line)."""
    hints = typing.get_type_hints(cls)
    doc = (cls.__doc__ or "").strip().splitlines()
    group = parser.add_argument_group(doc[0] if doc and not doc[0].startswith(cls.__name__ + "(") else None)
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            continue  # not a command-line option
        meta = f.metadata
        tp = _unwrap_optional(hints[f.name])
        origin = typing.get_origin(tp)
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        kwargs: dict[str, Any] = {"help": meta["help"]}
        if meta["choices"] is not None:
            kwargs["choices"] = list(meta["choices"])
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        kind = "store"
        if tp is bool:
            if default and meta["flags"] and all(fl.startswith("--no-") for fl in meta["flags"]):
                kwargs["action"] = "store_false"  # only the negative spelling exists, e.g. --no-exact
                kind = "const"
            elif default:
                kwargs["action"] = argparse.BooleanOptionalAction
            else:
                kwargs["action"] = "store_true"
                kind = "const"
        elif origin is list:
            kwargs["action"] = "append"
            kwargs["type"] = meta["type"] or typing.get_args(tp)[0]
            kind = "append"
        elif origin is tuple:
            kwargs["type"] = meta["type"] or _comma_tuple
        else:
            kwargs["type"] = meta["type"] or tp
        if meta["positional"]:
            group.add_argument(f.name, **kwargs, **({"nargs": "?", "default": default} if has_default else {}))
            continue
        flags = list(meta["flags"]) or [long_flag(f.name)]
        kwargs["dest"] = f.name
        if "metavar" not in kwargs and kind != "const" and "choices" not in kwargs and tp is not bool:
            kwargs["metavar"] = flags[-1].lstrip("-").replace("-", "_").upper()
        if has_default:
            kwargs["default"] = default
        else:
            kwargs["required"] = True
        group.add_argument(*flags, **kwargs)
        if meta["deprecated"]:
            alias: dict[str, Any] = {"dest": f.name, "help": argparse.SUPPRESS, "default": argparse.SUPPRESS,
                                     "new": flags[-1], "kind": kind}
            if kind == "const":
                alias.update(nargs=0, const=kwargs["action"] == "store_true")
            else:
                alias["type"] = kwargs["type"]
                if "choices" in kwargs:
                    alias["choices"] = kwargs["choices"]
            group.add_argument(*meta["deprecated"], action=_DeprecatedAlias, **alias)


def from_namespace(args: argparse.Namespace, cls: type) -> Any:
    """An instance of ``cls`` from the parsed options (fields that are not options keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if "help" in f.metadata and f.init}
    return cls(**values)


@dataclass(frozen=True)
class Command:
    """A subcommand: its name, help, the dataclasses that hold its options, and what it runs."""

    name: str
    help: str
    options: tuple[type, ...]
    run: Callable[..., int]
    description: str | None = None


def guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn user mistakes (bad rows, missing files, bad option values, refused resumes) into one clear line
    on stderr and exit code 2; anything else is a bug and keeps its traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args) or 0)
        except (DataError, FileExistsError, FileNotFoundError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    return run


def add_command(subparsers: argparse._SubParsersAction, command: Command) -> argparse.ArgumentParser:
    """Register ``command``: its parser built from its dataclasses, and ``func`` that builds them and runs."""
    p = subparsers.add_parser(command.name, help=command.help, description=command.description or command.help)
    seen: dict[str, type] = {}
    for cls in command.options:
        for f in dataclasses.fields(cls):
            if "help" in f.metadata:
                if f.name in seen:
                    raise TypeError(f"{command.name}: option {f.name!r} is defined by {seen[f.name].__name__} "
                                    f"and {cls.__name__}")
                seen[f.name] = cls
        add_dataclass_arguments(p, cls)

    def run(args: argparse.Namespace) -> int:
        return command.run(*(from_namespace(args, cls) for cls in command.options))

    p.set_defaults(func=guard(run))
    return p
