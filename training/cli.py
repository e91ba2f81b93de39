"""``skymath-train``: the paper's two-stage SFT with TRL, one command or one stage at a time.

Layout of a run (``output_dir`` = ``runs/x``)::

    runs/x/stage1/            final stage-1 model + tokenizer (what stage 2 starts from)
    runs/x/stage1/checkpoint-N/   Trainer checkpoints (``--resume`` continues from the last complete one)
    runs/x/stage1/skymath_stage.json  what was trained on (rows, mixture, over-long rows) and how it ended
    runs/x/stage1/eval/               lm-eval output (results_*.json, samples_*.jsonl) when --eval-tasks is set;
                                      ``skymath-report tables runs/x`` reads it; eval/scores.json for a quick look
    runs/x/stage2/ ...         the same for stage 2

Examples::

    skymath-train --preset llama2-7b --stage1-data normal.jsonl --stage2-data hard.jsonl --output-dir runs/llama2
    skymath-train --preset mistral-7b --stage 2 --stage1-dir runs/m/stage1 --stage2-data hard.jsonl --output-dir runs/m
    accelerate launch --config_file training/accelerate_configs/zero3.yaml -m training.cli --preset ...
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import DataError, row_byte_limit

from .config import ConfigError, SkyMathArguments, parse_args, resolve_gradient_accumulation
from .data import (
    SelectionError,
    StageData,
    apply_length_policy,
    iter_source_rows,
    load_stage_data,
    pretokenize,
    to_dataset,
)

log = logging.getLogger("skymath.train")

SUMMARY_NAME = "skymath_stage.json"


def last_complete_checkpoint(stage_dir: str | os.PathLike) -> Path | None:
    """The newest ``checkpoint-N`` whose trainer state was fully written.

    The Trainer writes ``trainer_state.json`` last, so a checkpoint cut by a kill mid-save lacks it
    (or holds a torn copy) and must not be resumed from; ``get_last_checkpoint`` would pick it.
    """
    root = Path(stage_dir)
    if not root.is_dir():
        return None
    candidates = []
    for child in root.iterdir():
        name = child.name
        if child.is_dir() and name.startswith("checkpoint-") and name[len("checkpoint-"):].isdigit():
            candidates.append((int(name[len("checkpoint-"):]), child))
    for _, child in sorted(candidates, reverse=True):
        state = child / "trainer_state.json"
        try:
            json.loads(state.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("skipping incomplete checkpoint %s (no readable trainer_state.json)", child)
            continue
        return child
    return None


def read_summary(stage_dir: str | os.PathLike) -> dict[str, Any] | None:
    path = Path(stage_dir) / SUMMARY_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def stage_training_args(script: SkyMathArguments, sft_args: Any, stage: int, out_dir: Path) -> Any:
    """A per-stage copy of the SFTConfig: its own output dir, learning rate, batching and accumulation."""
    args = copy.copy(sft_args)
    args.output_dir = str(out_dir)
    if stage == 2 and script.stage2_learning_rate is not None:
        args.learning_rate = script.stage2_learning_rate
    args.gradient_accumulation_steps = resolve_gradient_accumulation(
        script.global_batch_size, args.per_device_train_batch_size, sft_args.gradient_accumulation_steps,
        sft_args.world_size,
    )
    if os.environ.get("FSDP_ACTIVATION_CHECKPOINTING", "").lower() == "true" and args.activation_checkpointing:
        # transformers refuses both at once; FSDP's variant avoids a redundant all-gather.
        log.info("FSDP activation checkpointing is on: turning off the activation_checkpointing training argument")
        args.activation_checkpointing = args.gradient_checkpointing = False
    if script.batching == "packing":
        args.packing = True
    elif script.batching == "padding_free":
        args.packing = False
        args.padding_free = True
    return args


def step_logger(stage: int):
    """A callback that logs every Trainer log line with its step (``stage 1 step 12/240: loss 0.83, ...``):
    the Trainer's own lines show loss and epoch but not the step, and are printed, not logged."""
    from transformers import TrainerCallback

    class StepLogger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            parts = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items())
            log.info("stage %d step %d/%d: %s", stage, state.global_step, state.max_steps, parts)

    return StepLogger()


def _load_tokenizer(path: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path)


def load_data(script: SkyMathArguments, stage: int, out_dir: Path | None = None) -> StageData:
    with row_byte_limit(script.max_row_bytes):
        return load_stage_data(
            getattr(script, f"stage{stage}_data"),
            query_field=script.query_field,
            response_field=script.response_field,
            stage_filter=getattr(script, f"stage{stage}_filter"),
            rows=getattr(script, f"stage{stage}_rows"),
            weights=getattr(script, f"stage{stage}_weights"),
            seed=script.subset_seed,
            on_bad_row=script.on_bad_row,
            rejects=None if out_dir is None else out_dir / REJECTS_NAME,
        )


REJECTS_NAME = "rejected_rows.jsonl"


def validate_sources(script: SkyMathArguments, stage: int) -> None:
    """Read every row of a later stage's sources once, so a bad row there fails now, not after stage 1."""
    with row_byte_limit(script.max_row_bytes):
        for source in getattr(script, f"stage{stage}_data") or []:
            for _ in iter_source_rows(source, script.query_field, script.response_field, on_bad_row=script.on_bad_row):
                pass


def build_trainer(script: SkyMathArguments, args: Any, model_args: Any, init_from: str, data: StageData,
                  tokenizer: Any, callbacks: list | None = None):
    """The SFTTrainer of one stage (exposed for tests and the benchmark)."""
    from trl import SFTTrainer, get_peft_config

    model_init_kwargs = dict(
        revision=model_args.model_revision,
        trust_remote_code=args.trust_remote_code,
        attn_implementation=model_args.attn_implementation,
        dtype=model_args.dtype,
    )
    model_init_kwargs = {k: v for k, v in model_init_kwargs.items() if v is not None}
    if args.model_init_kwargs:
        model_init_kwargs.update(args.model_init_kwargs)
    args.model_init_kwargs = model_init_kwargs

    if script.batching == "padding_free":
        # TRL cannot enforce max_length without packing: hand it sequences already cut to length.
        train_dataset = pretokenize(data, tokenizer, args.max_length)
        args.max_length = None
    else:
        train_dataset = to_dataset(data)
    return SFTTrainer(
        model=init_from,
        args=args,
        train_dataset=train_dataset,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        callbacks=callbacks,
    )


def run_stage(script: SkyMathArguments, sft_args: Any, model_args: Any, stage: int, init_from: str,
              out_dir: Path, callbacks: list | None = None) -> dict[str, Any]:
    """Train one stage into ``out_dir``; return (and write) its summary."""
    previous = read_summary(out_dir)
    if script.resume and previous and previous.get("status") == "done":
        log.info("stage %d already finished in %s; skipping (delete %s to retrain)", stage, out_dir, SUMMARY_NAME)
        return previous
    resume_from = last_complete_checkpoint(out_dir)
    if resume_from is not None and not script.resume:
        raise ConfigError(
            f"{out_dir} already holds checkpoints (last: {resume_from.name}); pass --resume to continue that run "
            "or choose another --output-dir"
        )
    args = stage_training_args(script, sft_args, stage, out_dir)
    data = load_data(script, stage, out_dir)  # before any model file is touched: bad rows fail in seconds
    tokenizer = _load_tokenizer(init_from)
    data = apply_length_policy(data, tokenizer, args.max_length, script.overlong)
    log.info("stage %d: %d rows, init from %s, global batch %s = %d x %d x %d processes, lr %g",
             stage, len(data.pairs), init_from,
             args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size,
             args.per_device_train_batch_size, args.gradient_accumulation_steps, args.world_size, args.learning_rate)
    if resume_from is not None:
        log.info("stage %d: resuming from %s", stage, resume_from)

    trainer = build_trainer(script, args, model_args, init_from, data, tokenizer, [step_logger(stage), *(callbacks or [])])
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {
        "stage": stage,
        "status": "running",
        "init_from": str(init_from),
        "resumed_from": str(resume_from) if resume_from else None,
        "output_dir": str(out_dir),
        "global_batch_size": script.global_batch_size,
        "per_device_train_batch_size": args.per_device_train_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "world_size": args.world_size,
        "learning_rate": args.learning_rate,
        "num_train_epochs": args.num_train_epochs,
        "batching": script.batching,
        "lora": bool(model_args.use_peft),
        "data": data.report(),
    }
    if trainer.is_world_process_zero():
        _write_json(out_dir / SUMMARY_NAME, summary)
    result = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    _save_final_model(trainer, model_args, out_dir)
    summary.update(status="done", global_step=trainer.state.global_step, max_steps=trainer.state.max_steps,
                   train_metrics=dict(result.metrics))
    if trainer.is_world_process_zero():
        _write_json(out_dir / SUMMARY_NAME, summary)
    # Every rank waits until rank 0 has written the model: stage 2 (on all ranks) loads it next.
    # Not `trainer.end()`: it destroys the process group that stage 2 still needs (see `run`).
    trainer.accelerator.wait_for_everyone()
    del trainer
    _free_memory()
    return summary


def _save_final_model(trainer: Any, model_args: Any, out_dir: Path) -> None:
    """Save a plain model: with LoRA the adapter goes to ``adapter/`` and the merged weights to the stage dir,
    so stage 2 and lm-eval load the stage output like any full model."""
    if model_args.use_peft:
        if trainer.is_world_process_zero():
            trainer.model.save_pretrained(out_dir / "adapter")
            merged = trainer.model.merge_and_unload()
            merged.save_pretrained(out_dir)
            trainer.processing_class.save_pretrained(out_dir)
        return
    trainer.save_model(str(out_dir))


def _free_memory() -> None:
    """Give the finished stage's GPU memory back before the next stage loads its model.

    Only on GPU: a full ``gc.collect`` costs ~0.7 s in a process that imported transformers, for nothing on CPU.
    """
    import torch

    if torch.cuda.is_available():
        import gc

        gc.collect()
        torch.cuda.empty_cache()


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _evaluate(script: SkyMathArguments, stage_dir: Path) -> dict[str, Any] | None:
    from .evaluate import evaluate_checkpoint

    if not script.eval_tasks or not _is_main_process():
        return None
    scores = evaluate_checkpoint(
        stage_dir, script.eval_tasks, backend=script.eval_backend, limit=script.eval_limit,
        batch_size=script.eval_batch_size, extra_model_args=script.eval_model_args,
        gen_kwargs=script.eval_gen_kwargs, timeout=script.eval_timeout,
    )
    log.info("scores of %s: %s", stage_dir, json.dumps(scores["results"]))
    return scores


def run(script: SkyMathArguments, sft_args: Any, model_args: Any, callbacks: list | None = None) -> dict[int, dict]:
    """Run the requested stage(s). Evaluations run right after each stage in a single process; in a
    multi-process launch they run on rank 0 after the last stage, so other ranks never wait on them
    inside a collective (NCCL timeouts)."""
    root = Path(sft_args.output_dir)
    summaries: dict[int, dict] = {}
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    pending_eval: list[Path] = []

    def after(stage_dir: Path, stage: int) -> None:
        if not script.eval_tasks:
            return
        if distributed:
            pending_eval.append(stage_dir)
        else:
            summaries[stage]["eval"] = _evaluate(script, stage_dir)

    if script.stage == "both":
        validate_sources(script, 2)
    if script.stage in ("1", "both"):
        if not model_args.model_name_or_path:
            raise ConfigError("stage 1 needs --model-name-or-path (the base model)")
        stage1_dir = root / "stage1"
        summaries[1] = run_stage(script, sft_args, model_args, 1, model_args.model_name_or_path, stage1_dir, callbacks)
        after(stage1_dir, 1)
    if script.stage in ("2", "both"):
        init = Path(script.stage1_dir) if script.stage1_dir else root / "stage1"
        if not (init / "config.json").is_file():
            raise ConfigError(f"no stage-1 model at {init} (run stage 1 first, or pass --stage1-dir)")
        summary1 = read_summary(init)
        if summary1 is not None and summary1.get("status") != "done":
            raise ConfigError(f"stage 1 in {init} did not finish (status {summary1.get('status')!r}); "
                              "rerun it with --resume first")
        stage2_model_args = copy.copy(model_args)
        stage2_model_args.model_name_or_path = str(init)
        summaries[2] = run_stage(script, sft_args, stage2_model_args, 2, str(init), root / "stage2", callbacks)
        after(root / "stage2", 2)
    _end_distributed()
    for stage_dir in pending_eval:
        _evaluate(script, stage_dir)
    return summaries


def _end_distributed() -> None:
    """Tear the process group down once, after the last stage (what ``Trainer.end`` does per trainer)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        # TrainingArguments validates in __post_init__ (e.g. bf16 without a GPU) with plain ValueErrors:
        # at parse time those are configuration mistakes, reported without a traceback.
        script, sft_args, model_args = parse_args(argv)
    except ValueError as exc:
        print(f"skymath-train: error: {exc}", file=sys.stderr)
        return 2
    try:
        summaries = run(script, sft_args, model_args)
    except (ConfigError, DataError, SelectionError) as exc:
        log.error("%s", exc)
        print(f"skymath-train: error: {exc}", file=sys.stderr)
        return 2
    if not _is_main_process():
        return 0
    for stage, summary in summaries.items():
        data = summary.get("data", {})
        print(f"stage {stage}: {summary.get('global_step')} steps on {data.get('rows')} rows "
              f"({data.get('truncated_rows', 0)} truncated, {data.get('dropped_rows', 0)} dropped as over "
              f"{data.get('max_length')} tokens) -> {summary.get('output_dir')}")
        if summary.get("eval"):
            print(f"stage {stage} scores: {json.dumps(summary['eval']['results'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
