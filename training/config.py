"""Configuration of a SkyMath SFT run: our script arguments + TRL's ``SFTConfig`` + ``ModelConfig``.

Why three dataclasses: TRL already defines every training and model knob (``SFTConfig``,
``ModelConfig``); we add only what the paper's recipe needs on top (two stages, data sources and
mixtures, the global batch invariant, evaluation after each stage). They are parsed together by
TRL's ``TrlParser`` from a preset YAML, a user YAML and the command line, in that order of priority
(command line wins).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PRESET_DIR = Path(__file__).resolve().parent / "presets"
STAGES = ("1", "2", "both")
BATCHING = ("padding", "packing", "padding_free")
EVAL_BACKENDS = ("hf", "vllm")


class ConfigError(ValueError):
    """A run configuration that cannot work, explained in terms of the options a user sets."""


@dataclass
class SkyMathArguments:
    """What a SkyMath run adds to TRL's options (the ``ScriptArguments`` of ``trl sft``)."""

    stage: str = field(
        default="both",
        metadata={"help": "Which stage(s) to run: '1', '2' (from --stage1-dir) or 'both' in one command.",
                  "choices": list(STAGES)},
    )
    stage1_data: list[str] | None = field(
        default=None,
        metadata={"help": "Stage-1 sources: JSONL files of synth rows (or any query/response rows) or hub:NAME[:SPLIT]."},
    )
    stage2_data: list[str] | None = field(default=None, metadata={"help": "Stage-2 sources (hard problems)."})
    stage1_rows: int | None = field(
        default=None, metadata={"help": "Stage-1 subset size (scaling-law runs); all rows when unset."}
    )
    stage2_rows: int | None = field(default=None, metadata={"help": "Stage-2 subset size; all rows when unset."})
    stage1_weights: list[float] | None = field(
        default=None, metadata={"help": "Mixture weights of the stage-1 sources (needs stage1_rows)."}
    )
    stage2_weights: list[float] | None = field(
        default=None, metadata={"help": "Mixture weights of the stage-2 sources (needs stage2_rows)."}
    )
    stage1_filter: str | None = field(
        default=None, metadata={"help": "Keep only rows whose 'stage' field equals this (case-insensitive)."}
    )
    stage2_filter: str | None = field(default=None, metadata={"help": "Same, for stage 2."})
    stage1_dir: str | None = field(
        default=None,
        metadata={"help": "Stage-1 model that stage 2 starts from (default: <output_dir>/stage1)."},
    )
    stage2_learning_rate: float | None = field(
        default=None, metadata={"help": "Learning rate of stage 2 (default: the same as stage 1)."}
    )
    query_field: str = field(default="query", metadata={"help": "Column holding the problem."})
    response_field: str = field(default="response", metadata={"help": "Column holding the solution."})
    overlong: str = field(
        default="truncate",
        metadata={"help": "Rows longer than max_length: 'truncate' (keep the start) or 'drop'. Both are counted.",
                  "choices": ["truncate", "drop"]},
    )
    subset_seed: int = field(default=0, metadata={"help": "Seed of subset sampling and source mixing."})
    on_bad_row: str = field(
        default="fail",
        metadata={"help": "A malformed data row (over the byte limit, not UTF-8, not JSON, a missing, mistyped or "
                  "empty field): stop with file:line ('fail'), or skip it and list it in "
                  "<output_dir>/stageN/rejected_rows.jsonl ('skip').", "choices": ["fail", "skip"]},
    )
    max_row_bytes: str | None = field(
        default=None,
        metadata={"help": "Longest data row read, e.g. 16MiB (default: $SKYMATH_MAX_ROW_BYTES or 64MiB); a longer "
                  "row is an error naming its file and line, found without reading it into memory."},
    )
    global_batch_size: int | None = field(
        default=32,
        metadata={"help": "Kept whatever the GPU count: per-device batch x accumulation x world size must equal it; "
                  "accumulation is computed. Set to null to use TRL's values unchecked."},
    )
    batching: str = field(
        default="padding",
        metadata={"help": "'padding' (plain), 'packing' (BFD packing, padding-free) or 'padding_free' "
                  "(no packing; needs FlashAttention on GPU or SDPA with position-id masks).",
                  "choices": list(BATCHING)},
    )
    resume: bool = field(
        default=False,
        metadata={"help": "Resume each unfinished stage from its last complete checkpoint; finished stages are skipped."},
    )
    eval_tasks: list[str] | None = field(
        default=None, metadata={"help": "lm-eval tasks to run on each stage's final model, e.g. skymath_gsm8k skymath_math."}
    )
    eval_backend: str = field(default="hf", metadata={"help": "lm-eval backend.", "choices": list(EVAL_BACKENDS)})
    eval_limit: float | None = field(default=None, metadata={"help": "lm-eval --limit (quick checks)."})
    eval_batch_size: str = field(default="auto", metadata={"help": "lm-eval batch size."})
    eval_model_args: str | None = field(
        default=None, metadata={"help": "Extra lm-eval model_args, e.g. 'tensor_parallel_size=8,gpu_memory_utilization=0.9'."}
    )
    eval_gen_kwargs: str | None = field(
        default=None, metadata={"help": "Override the tasks' generation settings, e.g. 'max_gen_toks=64' (smoke tests only)."}
    )
    eval_timeout: int = field(default=6 * 3600, metadata={"help": "Seconds after which an evaluation is killed."})


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    path = PRESET_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(list_presets())}")
    return path


def load_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a YAML mapping of option: value")
    return data


def make_parser():
    """TRL's parser over our three dataclasses, with only the kebab-case spellings in ``--help``.

    HfArgumentParser registers ``--output_dir`` and ``--output-dir`` for a field ``output_dir``; the
    project's flag style is kebab-case, so the underscore spelling is hidden (it still works, through
    :func:`kebab_argv`, with a deprecation warning, for one release)."""
    from trl import ModelConfig, SFTConfig, TrlParser

    parser = TrlParser((SkyMathArguments, SFTConfig, ModelConfig), prog="skymath-train")
    for action in parser._actions:
        kebab = [s for s in action.option_strings if not (s.startswith("--") and "_" in s)]
        if kebab and len(kebab) < len(action.option_strings):
            action.option_strings = kebab
    return parser


def option_names(parser: Any) -> set[str]:
    """Field names of the parser's dataclasses: the options it knows (``--name`` and, for booleans, ``--no-name``)."""
    return {f.name for cls in parser.dataclass_types for f in dataclasses.fields(cls)}


def kebab_argv(args: list[str], parser: Any) -> list[str]:
    """Rewrite old underscore spellings of our options (``--output_dir``, ``--stage1_data=x``) to kebab-case,
    printing a deprecation warning for each; anything else is left to the parser."""
    names = option_names(parser)
    out = []
    for token in args:
        flag, eq, value = token.partition("=")
        if flag.startswith("--") and "_" in flag:
            name = flag[2:]
            if name in names or (name.startswith("no_") and name[3:] in names):
                new = "--" + name.replace("_", "-")
                print(f"skymath-train: warning: {flag} is deprecated and will be removed in the next release; "
                      f"use {new}", file=sys.stderr)
                token = new + eq + value
        out.append(token)
    return out


def parse_args(argv: list[str] | None = None):
    """Parse ``--preset NAME``, ``--config FILE`` and the command line (each overriding the former).

    TrlParser takes one ``--config``; a preset plus a user file is merged here first, then handed to
    TrlParser's own defaults mechanism (so ``env:`` blocks and unknown-key errors behave as in ``trl sft``).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    merged: dict[str, Any] = {}
    for flag in ("--preset", "--config"):
        while flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                raise ConfigError(f"{flag} needs a value")
            value = args.pop(i + 1)
            args.pop(i)
            merged.update(load_yaml_mapping(preset_path(value) if flag == "--preset" else value))
    parser = make_parser()
    args = kebab_argv(args, parser)
    env = merged.pop("env", {}) or {}
    if not isinstance(env, dict):
        raise ConfigError("`env` in a config file must be a mapping")
    for key, value in env.items():
        os.environ[str(key)] = str(value)
    unknown = parser.set_defaults_with_config(**merged)
    if unknown:
        raise ConfigError(f"unknown options in preset/config file: {unknown[::2]}")
    script_args, sft_args, model_args = parser.parse_args_into_dataclasses(args=args)
    validate(script_args, sft_args)
    return script_args, sft_args, model_args


def validate(script_args: SkyMathArguments, sft_args: Any) -> None:
    """Reject configurations that would fail late (hours into a run) or silently do the wrong thing."""
    if script_args.stage in ("1", "both") and not script_args.stage1_data:
        raise ConfigError("stage 1 needs --stage1-data (one or more JSONL files or hub:NAME[:SPLIT])")
    if script_args.stage in ("2", "both") and not script_args.stage2_data:
        raise ConfigError("stage 2 needs --stage2-data")
    for n in (1, 2):
        weights = getattr(script_args, f"stage{n}_weights")
        data = getattr(script_args, f"stage{n}_data") or []
        if weights is not None:
            if getattr(script_args, f"stage{n}_rows") is None:
                raise ConfigError(f"--stage{n}-weights needs --stage{n}-rows (the total to split)")
            if len(weights) != len(data):
                raise ConfigError(f"--stage{n}-weights has {len(weights)} values for {len(data)} sources")
    if script_args.batching == "padding_free" and sft_args.packing:
        raise ConfigError("batching=padding_free conflicts with packing=true; use batching=packing instead")
    if script_args.eval_tasks and script_args.eval_backend not in EVAL_BACKENDS:
        raise ConfigError(f"eval_backend must be one of {EVAL_BACKENDS}")


def resolve_gradient_accumulation(global_batch: int | None, per_device: int, accumulation: int, world_size: int) -> int:
    """Gradient accumulation that keeps ``per_device x accumulation x world_size == global_batch``.

    ``accumulation`` is the configured value: 1 (TRL's default) means "compute it"; any other value
    must agree with the global batch or the run is refused, since a silent change of the effective
    batch changes the recipe.
    """
    if global_batch is None:
        return accumulation
    if global_batch <= 0 or per_device <= 0 or world_size <= 0:
        raise ConfigError(
            f"global_batch_size={global_batch}, per_device_train_batch_size={per_device} and world size "
            f"{world_size} must all be positive"
        )
    if global_batch % world_size:
        raise ConfigError(
            f"global batch {global_batch} cannot be split over {world_size} processes; use a number of "
            f"processes that divides it or change global_batch_size"
        )
    per_step = per_device * world_size
    if global_batch % per_step:
        per_rank = global_batch // world_size
        hint = ", ".join(str(d) for d in range(1, per_rank + 1) if per_rank % d == 0)
        raise ConfigError(
            f"global batch {global_batch} is not a multiple of per_device_train_batch_size ({per_device}) x "
            f"world size ({world_size}) = {per_step}; use a per-device batch in {{{hint}}}"
        )
    needed = global_batch // per_step
    if accumulation not in (1, needed):
        raise ConfigError(
            f"gradient_accumulation_steps={accumulation} gives a global batch of {per_step * accumulation}, not "
            f"{global_batch}; remove it (it is computed: {needed}) or set global_batch_size: null"
        )
    return needed

