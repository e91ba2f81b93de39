"""The two-stage Skywork-MathQA synthesis pipeline (paper, section 3 and figure 2a).

* Stage 1 "normal": round 1 synthesises from all seed problems; a selection hook (the core-set step of
  the selection module, or any ``package.module:function``) picks "seed synthetic problems" from the
  round-1 rows; round 2 synthesises again from those. The stage-1 output is round 2 (or round 1 when
  the second round is off).
* Stage 2 "hard": synthesis from MATH level 4-5 seeds.

Each round drives the augmenter generators of :mod:`synth.augment` step by step. All requests of a step
go through one resumable run (online :func:`synth.client.run_requests` or the Batch API), cached in
``<output_dir>/<stage>/<round>/responses.jsonl``. Re-running the pipeline replays every generator against
that cache, so after a crash only unanswered requests are sent. Accepted rows and rejections (with a
reason) are then written atomically; ``summary.json`` counts rows per method, rejections per reason,
tokens and estimated cost.
"""

from __future__ import annotations

import importlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import write_jsonl
from synth.augment import AUGMENTERS, NEEDS_GOLD, AugmentContext, Outcome, choose_method, validate_mix
from synth.batch import BatchConfig, run_batch
from synth.client import (
    ChatClient,
    ChatRequest,
    ClientConfig,
    RunStats,
    approx_tokens,
    load_responses,
    run_requests,
)
from synth.seeds import Seed, SeedSpec, load_seeds

log = logging.getLogger(__name__)

#: ``select(rows, max_seeds) -> rows``: which round-1 rows become seeds of round 2.
SelectionHook = Callable[[list[dict[str, Any]], "int | None"], list[dict[str, Any]]]

DEFAULT_MIX = {"metamath": 1.0, "evol": 1.0, "xwin": 1.0}
DEFAULT_METAMATH_MIX = {"answer_aug": 1.0, "rephrase": 1.0, "fobar": 1.0, "self_verification": 1.0}


@dataclass
class SecondRound:
    enabled: bool = True
    select: str | None = None  # "package.module:function"; None = keep all round-1 rows (up to max_seeds)
    max_seeds: int | None = None
    samples_per_seed: int = 1


@dataclass
class StageConfig:
    name: str
    seeds: list[Any]
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    metamath_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_METAMATH_MIX))
    samples_per_seed: int = 1
    second_round: SecondRound | None = None
    enabled: bool = True


@dataclass
class RunConfig:
    client: ClientConfig
    output_dir: Path
    stages: list[StageConfig]
    mode: str = "online"  # online | batch
    batch: BatchConfig = field(default_factory=BatchConfig)
    seed_root: str | None = None
    rng_seed: int = 0
    prompt_dir: str | None = None
    answer_aug_samples: int = 1
    evol_max_steps: int = 5
    xwin_max_corrections: int = 1

    @classmethod
    def from_yaml(cls, path: str | Path) -> "RunConfig":
        import yaml

        path = Path(path)
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "run config") -> "RunConfig":
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected a mapping")
        data = dict(data)
        if "out_dir" in data:  # the old spelling, kept for one release
            if "output_dir" in data:
                raise ValueError(f"{where}: give output_dir only (out_dir is its deprecated old name)")
            log.warning("%s: 'out_dir' is deprecated and will be removed in the next release; use 'output_dir'", where)
            data["output_dir"] = data.pop("out_dir")
        known = {"client", "output_dir", "stages", "mode", "batch", "seed_root", "rng_seed", "prompt_dir",
                 "answer_aug_samples", "evol_max_steps", "xwin_max_corrections"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        for key in ("client", "output_dir", "stages"):
            if key not in data:
                raise ValueError(f"{where}: missing key {key!r}")
        client = ClientConfig.from_dict(data.pop("client"), where=f"{where}: client")
        batch = BatchConfig.from_dict(data.pop("batch", None), where=f"{where}: batch")
        stages_raw = data.pop("stages")
        if not isinstance(stages_raw, dict) or not stages_raw:
            raise ValueError(f"{where}: 'stages' must be a mapping of stage name -> settings")
        stages = []
        for name, s in stages_raw.items():
            w = f"{where}: stages.{name}"
            if not isinstance(s, dict) or "seeds" not in s:
                raise ValueError(f"{w}: needs 'seeds'")
            s = dict(s)
            unknown = sorted(set(s) - {"seeds", "mix", "metamath_mix", "samples_per_seed", "second_round", "enabled"})
            if unknown:
                raise ValueError(f"{w}: unknown key(s) {unknown}")
            for n, spec in enumerate(s["seeds"]):
                SeedSpec.from_obj(spec, where=f"{w}.seeds[{n}]")
            sr = s.pop("second_round", None)
            second = None
            if sr:
                unknown = sorted(set(sr) - set(SecondRound.__dataclass_fields__))
                if unknown:
                    raise ValueError(f"{w}.second_round: unknown key(s) {unknown}")
                second = SecondRound(**sr)
            stage = StageConfig(name=str(name), second_round=second, **s)
            validate_mix(stage.mix, stage.metamath_mix, w)
            if stage.samples_per_seed < 1:
                raise ValueError(f"{w}: samples_per_seed must be >= 1")
            stages.append(stage)
        mode = data.pop("mode", "online")
        if mode not in ("online", "batch"):
            raise ValueError(f"{where}: mode must be 'online' or 'batch', got {mode!r}")
        output_dir = Path(data.pop("output_dir"))  # relative paths are relative to the working directory
        cfg = cls(client=client, output_dir=output_dir, stages=stages, mode=mode, batch=batch, **data)
        if cfg.evol_max_steps < 1 or cfg.answer_aug_samples < 1 or cfg.xwin_max_corrections < 0:
            raise ValueError(f"{where}: evol_max_steps and answer_aug_samples must be >= 1, xwin_max_corrections >= 0")
        return cfg


def load_hook(spec: str | None) -> SelectionHook | None:
    if spec is None:
        return None
    if ":" not in spec:
        raise ValueError(f"selection hook {spec!r}: expected 'package.module:function'")
    mod, fn = spec.split(":", 1)
    hook = getattr(importlib.import_module(mod), fn, None)
    if not callable(hook):
        raise ValueError(f"selection hook {spec!r}: {fn} is not a callable in {mod}")
    return hook


@dataclass
class RoundResult:
    rows: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    stats: list[RunStats]
    pending: int = 0  # draws that could not finish because a request failed for good (rerun to retry)


class Pipeline:
    """Runs the configured stages; every call resumes from the files already in ``output_dir``."""

    def __init__(self, cfg: RunConfig, *, selection_hook: SelectionHook | None = None, progress: bool = True,
                 limit: int | None = None):
        self.cfg = cfg
        self.selection_hook = selection_hook
        self.progress = progress
        self.limit = limit

    # -- one round ---------------------------------------------------------------------------------
    def _ctx(self, stage: str) -> AugmentContext:
        c = self.cfg
        return AugmentContext(stage=stage, model=c.client.model, rng_seed=c.rng_seed, prompt_dir=c.prompt_dir,
                              answer_aug_samples=c.answer_aug_samples, evol_max_steps=c.evol_max_steps,
                              xwin_max_corrections=c.xwin_max_corrections)

    def draws(self, seeds: list[Seed], stage: StageConfig, samples: int, ctx: AugmentContext) -> list[tuple[Seed, int, str]]:
        out = []
        for seed in seeds:
            for d in range(samples):
                method = choose_method(seed, d, stage.mix, stage.metamath_mix, ctx)
                if method is not None and (method not in NEEDS_GOLD or seed.get("answer")):
                    out.append((seed, d, method))
        return out

    def _send(self, reqs: list[ChatRequest], cache: Path, desc: str) -> RunStats:
        if self.cfg.mode == "batch":
            return run_batch(self.cfg.client, reqs, cache, batch=self.cfg.batch, progress=self.progress)
        return run_requests(ChatClient(self.cfg.client), reqs, cache, progress=self.progress, desc=desc)

    def run_round(self, stage: StageConfig, round_name: str, seeds: list[Seed], samples: int) -> RoundResult:
        rdir = self.cfg.output_dir / stage.name / round_name
        rdir.mkdir(parents=True, exist_ok=True)
        cache = rdir / "responses.jsonl"
        ctx = self._ctx(stage.name)
        gens: dict[int, Any] = {}
        waiting: dict[int, list[ChatRequest]] = {}
        outcomes: list[Outcome] = []
        for i, (seed, d, method) in enumerate(self.draws(seeds, stage, samples, ctx)):
            g = AUGMENTERS[method](seed, ctx, d)
            gens[i] = g
            self._advance(i, g, None, waiting, outcomes)
        stats: list[RunStats] = []
        step = 0
        while waiting:
            step += 1
            reqs: dict[str, ChatRequest] = {}
            for rs in waiting.values():
                for r in rs:
                    reqs.setdefault(r.id, r)
            log.info("%s/%s step %d: %d generators waiting on %d requests", stage.name, round_name, step,
                     len(waiting), len(reqs))
            stats.append(self._send(list(reqs.values()), cache, f"{stage.name}/{round_name} step {step}"))
            answered = load_responses(cache, ids=set(reqs))
            now, waiting = waiting, {}
            for i, rs in now.items():
                self._advance(i, gens[i], [answered.get(r.id) for r in rs], waiting, outcomes)
        rows = [o for o in outcomes if "rejected" not in o]
        rejected = [o for o in outcomes if "rejected" in o]
        pending = sum(1 for o in rejected if o["rejected"].endswith("request_failed"))
        write_jsonl(rdir / "rows.jsonl", rows)
        write_jsonl(rdir / "rejected.jsonl", rejected)
        return RoundResult(rows, rejected, stats, pending)

    @staticmethod
    def _advance(i: int, g: Any, replies: list[Any] | None, waiting: dict[int, list[ChatRequest]],
                 outcomes: list[Outcome]) -> None:
        """Feed replies to a generator until it asks for requests or finishes."""
        try:
            reqs = g.send(replies) if replies is not None else next(g)
            while not reqs:  # a step that needs no request: continue at once
                reqs = g.send([])
            waiting[i] = reqs
        except StopIteration as stop:
            outcomes.extend(stop.value or [])

    # -- stages ------------------------------------------------------------------------------------
    def _seeds(self, stage: StageConfig) -> list[Seed]:
        seeds = load_seeds(stage.seeds, root=self.cfg.seed_root)
        return seeds[: self.limit] if self.limit else seeds

    def run_stage(self, stage: StageConfig) -> dict[str, Any]:
        seeds = self._seeds(stage)
        log.info("stage %s: %d seeds", stage.name, len(seeds))
        r1 = self.run_round(stage, "round1", seeds, stage.samples_per_seed)
        summary: dict[str, Any] = {"seeds": len(seeds), "round1": _round_summary(r1)}
        final = r1
        sr = stage.second_round
        if sr is not None and sr.enabled:
            hook = self.selection_hook or load_hook(sr.select)
            selected = hook(r1.rows, sr.max_seeds) if hook else r1.rows[: sr.max_seeds]
            seeds2 = [{"id": f"syn/{r['id']}", "source": f"synthetic/{r['method']}", "problem": r["query"],
                       "answer": r["answer"], "level": None, "subject": None} for r in selected]
            log.info("stage %s: %d seed synthetic problems selected for round 2", stage.name, len(seeds2))
            write_jsonl(self.cfg.output_dir / stage.name / "seed_synthetic.jsonl", seeds2)
            r2 = self.run_round(stage, "round2", seeds2, sr.samples_per_seed)
            summary["round2"] = _round_summary(r2)
            summary["seed_synthetic"] = len(seeds2)
            final = r2
        out = self.cfg.output_dir / f"{stage.name}.jsonl"
        n = write_jsonl(out, final.rows)
        summary["output"] = str(out)
        summary["rows"] = n
        return summary

    def run(self) -> dict[str, Any]:
        t0 = time.time()
        self.cfg.output_dir.mkdir(parents=True, exist_ok=True)
        summary: dict[str, Any] = {"model": self.cfg.client.model, "mode": self.cfg.mode, "stages": {}}
        for stage in self.cfg.stages:
            if stage.enabled:
                summary["stages"][stage.name] = self.run_stage(stage)
        tok_in = sum(r.get("prompt_tokens", 0) for s in summary["stages"].values() for k, r in s.items()
                     if k.startswith("round"))
        tok_out = sum(r.get("completion_tokens", 0) for s in summary["stages"].values() for k, r in s.items()
                      if k.startswith("round"))
        summary["tokens_this_run"] = {"prompt": tok_in, "completion": tok_out}
        summary["cost_usd_this_run"] = round(sum(r.get("cost_usd", 0.0) for s in summary["stages"].values()
                                                 for k, r in s.items() if k.startswith("round")), 4)
        summary["elapsed_s"] = round(time.time() - t0, 1)
        (self.cfg.output_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        return summary

    # -- dry run -----------------------------------------------------------------------------------
    def dry_run(self) -> dict[str, Any]:
        """Seeds, draws per method and the first step's requests with a token/cost estimate; sends nothing."""
        report: dict[str, Any] = {}
        for stage in self.cfg.stages:
            if not stage.enabled:
                continue
            seeds = self._seeds(stage)
            ctx = self._ctx(stage.name)
            draws = self.draws(seeds, stage, stage.samples_per_seed, ctx)
            waiting: dict[int, list[ChatRequest]] = {}
            outcomes: list[Outcome] = []
            for i, (seed, d, method) in enumerate(draws):
                self._advance(i, AUGMENTERS[method](seed, ctx, d), None, waiting, outcomes)
            first = [r for rs in waiting.values() for r in rs]
            tin = sum(approx_tokens(m["content"]) for r in first for m in r.messages)
            tout = len(first) * (self.cfg.client.max_tokens or 1024)
            report[stage.name] = {
                "seeds": len(seeds),
                "draws_by_method": dict(Counter(m for _, _, m in draws)),
                "first_step_requests": len(first),
                "first_step_prompt_tokens_est": tin,
                "first_step_cost_upper_bound_usd": round(self.cfg.client.cost_usd(tin, tout), 2),
                "example_request": asdict(first[0]) if first else None,
            }
        return report


def _round_summary(r: RoundResult) -> dict[str, Any]:
    return {
        "rows": len(r.rows),
        "rows_by_method": dict(Counter(x["method"] for x in r.rows)),
        "rejected": len(r.rejected),
        "rejected_by_reason": dict(Counter(x["rejected"] for x in r.rejected)),
        "unfinished_request_failed": r.pending,
        "requests_sent": sum(s.ok + s.failed for s in r.stats),
        "attempts": sum(s.attempts for s in r.stats),
        "prompt_tokens": sum(s.prompt_tokens for s in r.stats),
        "completion_tokens": sum(s.completion_tokens for s in r.stats),
        "cost_usd": round(sum(s.cost_usd for s in r.stats), 4),
    }


__all__ = ["Pipeline", "RunConfig", "StageConfig", "SecondRound", "SelectionHook", "load_hook"]
