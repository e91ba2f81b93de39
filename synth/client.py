"""Chat-completions client for synthesis at scale, on the ``openai`` SDK (async).

Why not the SDK alone: at millions of requests the things that cost money and data are the ones the SDK
leaves to the caller. This module adds

* limits: a concurrency cap, requests-per-minute and tokens-per-minute token buckets, and a global pause
  after a 429 that honours ``retry-after`` (one rate-limited request slows every worker, as the server
  asks, instead of each hammering on its own schedule);
* retries with exponential backoff + jitter on 429, 5xx, timeouts, connection errors and unparseable
  bodies (the SDK's own retries are turned off so every attempt is counted and logged here);
* refusals told apart from answers (:class:`Refusal`: a content filter, as a 400 or as
  ``finish_reason: "content_filter"``, an explicit ``refusal`` message, an empty reply): retried
  ``refusal_retries`` times, then counted as refused and never cached as an answer;
* deterministic request ids (:func:`request_id`, a hash of the request content) so a rerun of the same
  job addresses the same requests;
* :func:`run_requests`: append-only JSONL output keyed by request id; a rerun skips ids already answered,
  so a job killed with ``kill -9`` at any moment loses nothing and pays for nothing twice. Requests that
  failed for good (refusals included) are written to ``<out>.errors.jsonl`` and retried by the next
  run. Usage and an estimated cost are totalled per run and appended to ``<out>.runs.jsonl`` (a caller
  that drives many calls as one run, like the synthesis pipeline, writes that line itself).

HTTP client libraries (httpx, httpcore, openai, aiohttp) log one INFO line per request; command lines
call :func:`quiet_http_logging` so those lines appear only with ``--verbose`` (DEBUG).

The same :class:`ClientConfig` serves OpenAI (``base_url: null``) and any OpenAI-compatible server
(vLLM, ``transformers serve``, our test server) through ``base_url``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import random
import time
from collections.abc import Container, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from skymath_tasks.jsonl_io import JsonlAppender
from synth.cli_args import option

log = logging.getLogger(__name__)

#: Placeholder key for local servers that do not check keys (vLLM, transformers serve, tests).
LOCAL_DUMMY_KEY = "EMPTY"


# --------------------------------------------------------------------------------------------------
# Configuration and request/response records
# --------------------------------------------------------------------------------------------------


@dataclass
class ClientConfig:
    """Endpoint, sampling and limits. Load from YAML with :meth:`from_dict` / :meth:`from_yaml`."""

    base_url: str | None = None  # None = api.openai.com
    model: str = "gpt-4-1106-preview"  # the paper's GPT-4
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.7  # the paper's sampling temperature
    max_tokens: int | None = 2048
    max_concurrency: int = 32
    requests_per_minute: float | None = None  # None = no client-side limit
    tokens_per_minute: float | None = None
    #: Burst allowance of the RPM/TPM buckets, in seconds' worth of the per-minute rate.
    limit_burst_s: float = 10.0
    max_retries: int = 8
    #: A refused request (content filter, refusal message, empty reply) is asked again this many times
    #: before it counts as refused (sampling at temperature > 0 often answers the second time).
    refusal_retries: int = 2
    timeout_s: float = 120.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    #: USD per 1M tokens, for cost estimates (defaults: GPT-4-1106-preview list price).
    price_input_per_1m: float = 10.0
    price_output_per_1m: float = 30.0
    #: HTTP transport under the SDK: "aiohttp" (C-accelerated parser, ~2x the requests/s of one
    #: process) or "httpx" (the SDK's default).
    http_backend: str = "aiohttp"
    #: Extra request headers (e.g. for a gateway); the client always adds ``X-Request-Id``.
    extra_headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, *, where: str = "client config") -> "ClientConfig":
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
        cfg = cls(**data)
        cfg.validate(where)
        return cfg

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, key: str | None = None) -> "ClientConfig":
        import yaml

        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        if key is not None:
            data = data.get(key) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping{' under ' + repr(key) if key else ''}")
        return cls.from_dict(data, where=f"{path}{':' + key if key else ''}")

    def validate(self, where: str = "client config") -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"{where}: max_concurrency must be >= 1")
        for name in ("requests_per_minute", "tokens_per_minute"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{where}: {name} must be > 0 or null")
        if self.limit_burst_s <= 0:
            raise ValueError(f"{where}: limit_burst_s must be > 0")
        if self.max_retries < 0 or self.timeout_s <= 0:
            raise ValueError(f"{where}: max_retries must be >= 0 and timeout_s > 0")
        if self.refusal_retries < 0:
            raise ValueError(f"{where}: refusal_retries must be >= 0")

    def api_key(self) -> str:
        key = os.environ.get(self.api_key_env)
        if key:
            return key
        if self.base_url:  # local OpenAI-compatible servers usually accept any key
            return LOCAL_DUMMY_KEY
        raise RuntimeError(f"no API key: set the environment variable {self.api_key_env} (or base_url for a local server)")

    def cost_usd(self, prompt_tokens: int, completion_tokens: int, discount: float = 1.0) -> float:
        return discount * (prompt_tokens * self.price_input_per_1m + completion_tokens * self.price_output_per_1m) / 1e6


@dataclass
class ClientOptions:
    """model endpoint (OpenAI-compatible, through synth.client)

    The endpoint options every ``skymath-synth`` subcommand that talks to a model shares: a YAML
    ``ClientConfig`` as the base, then whichever of these the user gave."""

    client_config: str | None = option(None, help="YAML with a ClientConfig mapping (base_url, model, limits, prices, ...)")
    client_key: str | None = option(None, help="key inside --client-config holding the mapping (e.g. 'client')")
    base_url: str | None = option(None, help="endpoint, e.g. http://127.0.0.1:8000/v1 (default: api.openai.com)")
    model: str | None = option(None, help="model name (default: the config's, gpt-4-1106-preview)")
    api_key_env: str | None = option(None, help="environment variable holding the API key (default OPENAI_API_KEY)")
    temperature: float | None = option(None, help="sampling temperature (default: the config's)")
    max_concurrency: int | None = option(None, help="requests in flight")
    requests_per_minute: float | None = option(None, help="client-side request rate limit")

    def endpoint_given(self) -> bool:
        """An endpoint counts as configured only when asked for explicitly (no surprise API bills)."""
        return bool(self.base_url or self.client_config)

    def to_config(self) -> ClientConfig:
        cfg = ClientConfig.from_yaml(self.client_config, self.client_key) if self.client_config else ClientConfig()
        for name in ("base_url", "model", "api_key_env", "max_concurrency", "requests_per_minute"):
            value = getattr(self, name)
            if value:
                setattr(cfg, name, value)
        if self.temperature is not None:
            cfg.temperature = self.temperature
        cfg.validate()
        return cfg


@dataclass
class SampledClientOptions(ClientOptions):
    """model endpoint (OpenAI-compatible, through synth.client)"""

    temperature: float | None = option(0.7, help="sampling temperature (default 0.7)")


@dataclass
class GreedyClientOptions(ClientOptions):
    """model endpoint (OpenAI-compatible, through synth.client)"""

    temperature: float | None = option(0.0, help="sampling temperature (default 0.0)")


@dataclass
class ChatRequest:
    """One chat-completions call. ``params`` override the config's sampling parameters for this call;
    ``meta`` travels to the output row untouched (the pipeline keeps seed ids and methods there)."""

    id: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChatResponse:
    id: str
    text: str
    usage: dict[str, int]
    finish_reason: str | None
    model: str | None
    attempts: int = 1


def request_id(*parts: Any) -> str:
    """Deterministic id from the request content (any JSON-serialisable parts)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def approx_tokens(text: str) -> int:
    """Cheap token estimate for the TPM limiter (~4 characters per token)."""
    return max(1, (len(text) + 3) // 4)


#: Errors that no other request can escape either (bad key, no access, unknown model or URL): a run
#: stops at the first one instead of recording the same failure a million times.
FATAL_KINDS = frozenset({"http_401", "http_403", "http_404"})


class RequestFailed(RuntimeError):
    """A request that failed for good (non-retryable error, or retries exhausted)."""

    def __init__(self, req_id: str, kind: str, message: str, attempts: int):
        super().__init__(f"request {req_id}: {kind}: {message} (after {attempts} attempt(s))")
        self.req_id = req_id
        self.kind = kind
        self.message = message
        self.attempts = attempts

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL_KINDS


class BadResponse(Exception):
    """A 200 whose body we cannot use (not JSON, no choices): retried like a server error."""


#: Error codes of OpenAI / Azure OpenAI for a prompt or completion stopped by the content filter.
CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation", "content_filtered"})


class Refusal(Exception):
    """The model (or the provider's filter) declined: not an answer, never cached as one.

    ``kind``: ``content_filter`` (HTTP 400 with a content-filter code, or ``finish_reason:
    "content_filter"``), ``refusal`` (the ``refusal`` field of the message is set) or ``empty`` (no text)."""

    def __init__(self, kind: str, message: str = ""):
        super().__init__(f"{kind}: {message}" if message else kind)
        self.kind = kind
        self.message = message


def _content_filter_code(exc: Any) -> str | None:
    """The content-filter code of an API error (``code`` of its body, or of ``body.error``), if any."""
    codes = [getattr(exc, "code", None)]
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        codes.append(body.get("code"))
        if isinstance(body.get("error"), dict):
            codes.append(body["error"].get("code"))
    return next((c for c in codes if isinstance(c, str) and c in CONTENT_FILTER_CODES), None)


# --------------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------------


class TokenBucket:
    """Async token bucket: ``rate_per_min`` units per minute, bursts up to ``burst_s`` seconds' worth."""

    def __init__(self, rate_per_min: float, burst_s: float = 10.0):
        self.rate = rate_per_min / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.tokens = self.capacity
        self.stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self, amount: float = 1.0) -> None:
        amount = min(amount, self.capacity)  # a request bigger than the burst waits for a full bucket
        async with self._lock:  # FIFO: waiters are served in order
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= amount:
                    self.tokens -= amount
                    return
                await asyncio.sleep((amount - self.tokens) / self.rate)


@dataclass
class ClientStats:
    attempts: int = 0
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def count_error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class _LoopState:
    """Objects bound to one event loop (asyncio primitives and the SDK's async HTTP client)."""

    def __init__(self, cfg: ClientConfig):
        from openai import AsyncOpenAI

        self.loop = asyncio.get_running_loop()
        http_client = None
        if cfg.http_backend == "aiohttp":
            from openai import DefaultAioHttpClient

            http_client = DefaultAioHttpClient(timeout=cfg.timeout_s)
        elif cfg.http_backend != "httpx":
            raise ValueError(f"http_backend must be 'aiohttp' or 'httpx', got {cfg.http_backend!r}")
        self.openai = AsyncOpenAI(base_url=cfg.base_url, api_key=cfg.api_key(), max_retries=0, timeout=cfg.timeout_s,
                                  http_client=http_client)
        self.slots = asyncio.Semaphore(cfg.max_concurrency)
        self.rpm = TokenBucket(cfg.requests_per_minute, cfg.limit_burst_s) if cfg.requests_per_minute else None
        self.tpm = TokenBucket(cfg.tokens_per_minute, cfg.limit_burst_s) if cfg.tokens_per_minute else None
        self.pause_until = 0.0  # monotonic time before which nobody sends (set by retry-after)


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------


class ChatClient:
    """Rate-limited, retrying chat-completions client. Safe to share between coroutines of one loop."""

    def __init__(self, config: ClientConfig):
        config.validate()
        self.config = config
        self.stats = ClientStats()
        self._state: _LoopState | None = None

    def _loop_state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        if self._state is None or self._state.loop is not loop:
            self._state = _LoopState(self.config)
        return self._state

    async def aclose(self) -> None:
        if self._state is not None:
            await self._state.openai.close()
            self._state = None

    def _estimate_tokens(self, req: ChatRequest) -> int:
        prompt = sum(approx_tokens(str(m.get("content", ""))) for m in req.messages)
        out = req.params.get("max_tokens", self.config.max_tokens) or 1024
        return prompt + int(out)

    def _call_body(self, req: ChatRequest) -> tuple[dict[str, Any], dict[str, str]]:
        """JSON body and headers of one call. The body goes to the SDK's low-level ``post`` as is: the
        typed ``chat.completions.create`` re-walks every message through its TypedDict transformer, which
        costs ~2 ms of CPU per call and caps one client process near 200 requests/s."""
        return chat_body(self.config, req), {**self.config.extra_headers, "X-Request-Id": req.id}

    async def complete(self, req: ChatRequest) -> ChatResponse:
        """Send one request, retrying transient failures; raise :class:`RequestFailed` when it cannot succeed."""
        import openai

        st = self._loop_state()
        cfg = self.config
        est = self._estimate_tokens(req)
        attempt = 0
        refusals = 0
        while True:
            attempt += 1
            delay: float | None = None
            # wait for a global pause (retry-after), then the rate limits, then a concurrency slot
            while (wait := st.pause_until - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            if st.rpm:
                await st.rpm.acquire(1)
            if st.tpm:
                await st.tpm.acquire(est)
            async with st.slots:
                self.stats.attempts += 1
                try:
                    body, headers = self._call_body(req)
                    raw = await st.openai.post("/chat/completions", body=body, cast_to=bytes,
                                               options={"headers": headers})
                    return self._parse(req, json.loads(raw), attempt)
                except openai.RateLimitError as exc:
                    kind, delay = "rate_limit", _retry_after(exc)
                    if delay is not None:
                        st.pause_until = max(st.pause_until, time.monotonic() + delay)
                except openai.APITimeoutError:
                    kind = "timeout"
                except openai.APIConnectionError as exc:
                    kind = f"connection ({type(exc.__cause__).__name__ if exc.__cause__ else 'closed'})"
                except Refusal as exc:
                    kind = f"refusal ({exc.kind})"
                    refusals += 1
                    self.stats.count_error(f"refusal_{exc.kind}")
                    if refusals > cfg.refusal_retries:
                        raise RequestFailed(req.id, "refusal", exc.kind, attempt) from None
                    delay = cfg.backoff_base_s * (0.5 + random.random() / 2)
                except openai.APIStatusError as exc:
                    code = _content_filter_code(exc) if exc.status_code == 400 else None
                    if code is not None:  # the prompt was filtered: a refusal, not a broken request
                        refusals += 1
                        self.stats.count_error("refusal_content_filter")
                        if refusals > cfg.refusal_retries:
                            raise RequestFailed(req.id, "refusal", "content_filter", attempt) from None
                        kind, delay = f"refusal (content_filter: {code})", cfg.backoff_base_s * (0.5 + random.random() / 2)
                    elif exc.status_code not in (408, 409) and exc.status_code < 500:
                        self.stats.count_error(f"http_{exc.status_code}")
                        raise RequestFailed(req.id, f"http_{exc.status_code}", _short(exc), attempt) from None
                    else:
                        kind, delay = f"http_{exc.status_code}", _retry_after(exc)
                except (BadResponse, ValueError, openai.APIResponseValidationError) as exc:
                    # a 200 with an unusable body (json.JSONDecodeError is a ValueError)
                    kind = f"bad_response ({type(exc).__name__}: {_short(exc)})"
            if kind.startswith("refusal"):
                self.stats.retries += 1
                log.debug("request %s attempt %d: %s; asking again in %.2fs", req.id, attempt, kind, delay)
                await asyncio.sleep(delay or 0)
                continue
            self.stats.count_error(kind.split(" ")[0])
            if attempt > cfg.max_retries:
                raise RequestFailed(req.id, kind, "retries exhausted", attempt)
            self.stats.retries += 1
            if delay is None:
                delay = min(cfg.backoff_max_s, cfg.backoff_base_s * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            log.debug("request %s attempt %d: %s; retrying in %.2fs", req.id, attempt, kind, delay)
            await asyncio.sleep(delay)

    def _parse(self, req: ChatRequest, resp: Any, attempt: int) -> ChatResponse:
        return parse_chat_completion(req.id, resp, attempt)

    def complete_sync(self, req: ChatRequest) -> ChatResponse:
        """Blocking convenience for scripts and tests (not inside a running event loop)."""

        async def _one() -> ChatResponse:
            try:
                return await self.complete(req)
            finally:
                await self.aclose()

        return asyncio.run(_one())


def chat_body(config: ClientConfig, req: ChatRequest) -> dict[str, Any]:
    """The chat-completions JSON body of a request (also the ``body`` of a Batch API line)."""
    body: dict[str, Any] = {"model": config.model, "messages": req.messages, "temperature": config.temperature}
    if config.max_tokens is not None:
        body["max_tokens"] = config.max_tokens
    body.update(req.params)
    return body


def parse_chat_completion(req_id: str, resp: Any, attempt: int = 1) -> ChatResponse:
    """Read a chat-completion JSON ourselves (the body is untrusted data: check every field).

    Raises :class:`Refusal` for a filtered, refused or empty reply and :class:`BadResponse` for a body
    that is not a chat completion."""
    choices = resp.get("choices") if isinstance(resp, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BadResponse("no choices in response")
    msg = choices[0].get("message")
    if not isinstance(msg, dict):
        raise BadResponse("choice has no message")
    text = msg.get("content")
    if choices[0].get("finish_reason") == "content_filter":
        raise Refusal("content_filter", "finish_reason content_filter")
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        raise Refusal("refusal", _short_text(refusal))
    if text is None or (isinstance(text, str) and not text.strip()):
        raise Refusal("empty", "the reply has no text")
    if not isinstance(text, str):
        raise BadResponse("choice has no text content")
    u = resp.get("usage") if isinstance(resp.get("usage"), dict) else {}
    usage = {"prompt_tokens": _int(u.get("prompt_tokens")), "completion_tokens": _int(u.get("completion_tokens"))}
    finish = choices[0].get("finish_reason")
    model = resp.get("model")
    return ChatResponse(req_id, text, usage, finish if isinstance(finish, str) else None,
                        model if isinstance(model, str) else None, attempt)


def _retry_after(exc: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date), capped at 10 minutes."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        if headers.get("retry-after-ms"):
            return min(600.0, float(headers["retry-after-ms"]) / 1000)
        ra = headers.get("retry-after")
        if ra:
            try:
                return min(600.0, max(0.0, float(ra)))
            except ValueError:
                import email.utils

                dt = email.utils.parsedate_to_datetime(ra)
                return min(600.0, max(0.0, dt.timestamp() - time.time()))
    except (TypeError, ValueError):
        return None
    return None


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0


def _short(exc: BaseException, n: int = 200) -> str:
    return _short_text(str(exc), n)


def _short_text(s: str, n: int = 200) -> str:
    s = s.replace("\n", " ")
    return s if len(s) <= n else s[:n] + "..."


#: Loggers of the HTTP stack under the SDK (openai 3 ships its httpx fork as httpx2); httpx writes a line
#: per request at INFO.
HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai", "aiohttp")


def quiet_http_logging(verbose: bool = False) -> None:
    """Per-request lines of the HTTP libraries only at DEBUG (``--verbose``): at INFO they flood the log
    and tear the progress bars."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


# --------------------------------------------------------------------------------------------------
# Resumable runs
# --------------------------------------------------------------------------------------------------


@dataclass
class RunStats:
    """Totals of one :func:`run_requests` call (a resumed job has one per run, in ``<out>.runs.jsonl``)."""

    total_seen: int = 0  # requests in the input (duplicates removed)
    skipped_done: int = 0  # already answered in the output file by an earlier run
    ok: int = 0  # answered in this run
    failed: int = 0  # failed for good in this run (in <out>.errors.jsonl; retried next run)
    refused: int = 0  # refused after its refusal retries (also in <out>.errors.jsonl; asked again next run)
    attempts: int = 0  # HTTP attempts in this run, retries included
    retries: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    #: request id -> why it got no answer in this run ("refusal", "http_400", ...); not logged (can be large)
    failures: dict[str, str] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("failures")
        return out

    def add(self, other: "RunStats") -> None:
        """Totals of several calls that form one run (the pipeline's steps)."""
        for name in ("total_seen", "skipped_done", "ok", "failed", "refused", "attempts", "retries", "prompt_tokens",
                     "completion_tokens"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.cost_usd += other.cost_usd
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.failures.update(other.failures)

    def summary(self) -> str:
        return (f"{self.ok} answered, {self.skipped_done} already done, {self.failed} failed, {self.refused} refused; "
                f"{self.attempts} attempts ({self.retries} retries); tokens in/out "
                f"{self.prompt_tokens}/{self.completion_tokens}; est. cost ${self.cost_usd:.4f}; {self.elapsed_s:.1f}s")


def errors_path_for(out_path: str | os.PathLike) -> Path:
    p = Path(out_path)
    return p.with_name(p.name + ".errors.jsonl")


def runs_path_for(out_path: str | os.PathLike) -> Path:
    p = Path(out_path)
    return p.with_name(p.name + ".runs.jsonl")


def iter_output_rows(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Stream the rows of an append-only output file (``jsonl_io.stream_output_rows``: only a torn *last*
    line, without its newline, is skipped; a bad line elsewhere, bad bytes included, is a
    ``CorruptOutputError`` naming file and line, which ``skymath-synth generate --repair`` fixes) without
    holding the whole file in memory: a response cache at paper scale is gigabytes."""
    from skymath_tasks.jsonl_io import stream_output_rows

    for _, row in stream_output_rows(path):
        yield row


def load_responses(out_path: str | os.PathLike, ids: set[str] | None = None) -> dict[str, dict[str, Any]]:
    """Answered rows of an output file by request id (first answer wins; a torn last line is ignored).
    ``ids`` keeps only those requests (memory stays proportional to what the caller needs)."""
    done: dict[str, dict[str, Any]] = {}
    for row in iter_output_rows(out_path):
        rid = row.get("id")
        if isinstance(rid, str) and rid not in done and (ids is None or rid in ids):
            done[rid] = row
    return done


def answered_ids(out_path: str | os.PathLike) -> set[str]:
    """Ids already answered in an output file (what a resumed run skips)."""
    return {rid for row in iter_output_rows(out_path) if isinstance(rid := row.get("id"), str)}


def response_row(resp: ChatResponse, req: ChatRequest) -> dict[str, Any]:
    return {"id": req.id, "text": resp.text, "finish_reason": resp.finish_reason, "model": resp.model,
            "usage": resp.usage, "attempts": resp.attempts, "meta": req.meta}


async def arun_requests(
    client: ChatClient,
    requests: Iterable[ChatRequest],
    out_path: str | os.PathLike,
    *,
    progress: bool = True,
    desc: str = "requests",
    close_client: bool = True,
    answered: Container[str] | None = None,
    runs_log: bool = True,
) -> RunStats:
    """Async body of :func:`run_requests` (use it when already inside an event loop). ``close_client=False``
    keeps the client's connections open for another run in the same loop. ``answered``: ids already
    answered in ``out_path`` when the caller knows them (default: read the file). ``runs_log=False``: no
    line in ``<out>.runs.jsonl`` (the caller logs its run as a whole)."""
    out_path = Path(out_path)
    stats = RunStats()
    t0 = time.monotonic()
    done = answered if answered is not None else answered_ids(out_path)
    a0, r0, e0 = client.stats.attempts, client.stats.retries, dict(client.stats.errors)
    total = len(requests) if hasattr(requests, "__len__") else None  # type: ignore[arg-type]

    seen: set[str] = set()

    def pending() -> Iterator[ChatRequest]:
        for req in requests:
            if req.id in seen:
                continue
            seen.add(req.id)
            stats.total_seen += 1
            if req.id in done:
                stats.skipped_done += 1
                bar.update(1)
                continue
            yield req

    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="req", disable=not progress, dynamic_ncols=True)
    it = pending()
    out = JsonlAppender(out_path)
    err_out: JsonlAppender | None = None
    try:
        async def worker() -> None:
            nonlocal err_out
            for req in it:  # a shared generator: each request is taken by exactly one worker
                try:
                    resp = await client.complete(req)
                except RequestFailed as exc:
                    if exc.kind == "refusal":
                        stats.refused += 1
                    else:
                        stats.failed += 1
                    stats.failures[req.id] = exc.kind
                    if err_out is None:
                        err_out = JsonlAppender(errors_path_for(out_path))
                    err_out.write({"id": req.id, "error": exc.kind, "message": exc.message,
                                   "attempts": exc.attempts, "time": time.time(), "meta": req.meta})
                    if exc.fatal:
                        log.error("stopping the run: %s", exc)
                        raise
                    (log.info if exc.kind == "refusal" else log.warning)("%s", exc)
                else:
                    out.write(response_row(resp, req))
                    stats.ok += 1
                    stats.prompt_tokens += resp.usage.get("prompt_tokens", 0)
                    stats.completion_tokens += resp.usage.get("completion_tokens", 0)
                bar.update(1)
                bar.set_postfix(ok=stats.ok, failed=stats.failed, refused=stats.refused, refresh=False)

        n_workers = client.config.max_concurrency
        await asyncio.gather(*(worker() for _ in range(n_workers)))
    finally:
        bar.close()
        out.close()
        if err_out is not None:
            err_out.close()
        if close_client:
            await client.aclose()
    stats.attempts = client.stats.attempts - a0
    stats.retries = client.stats.retries - r0
    stats.errors = {k: v - e0.get(k, 0) for k, v in client.stats.errors.items() if v - e0.get(k, 0)}
    stats.cost_usd = client.config.cost_usd(stats.prompt_tokens, stats.completion_tokens)
    stats.elapsed_s = time.monotonic() - t0
    if runs_log:
        write_run_line(out_path, stats, model=client.config.model, base_url=client.config.base_url)
    log.info("%s: %s", desc if not runs_log else out_path, stats.summary())
    return stats


def write_run_line(out_path: str | os.PathLike, stats: RunStats, **extra: Any) -> None:
    """One line of ``<out>.runs.jsonl``: what one run sent, got, retried and cost."""
    with JsonlAppender(runs_path_for(out_path)) as runs:
        runs.write({"time": time.time(), **extra, **stats.to_dict()})


def run_requests(
    client: ChatClient,
    requests: Iterable[ChatRequest],
    out_path: str | os.PathLike,
    *,
    progress: bool = True,
    desc: str = "requests",
    answered: Container[str] | None = None,
    runs_log: bool = True,
) -> RunStats:
    """Answer every request not yet answered in ``out_path``; see the module docstring for guarantees."""
    return asyncio.run(arun_requests(client, requests, out_path, progress=progress, desc=desc, answered=answered,
                                     runs_log=runs_log))


__all__ = [
    "ClientConfig", "ChatRequest", "ChatResponse", "ChatClient", "RequestFailed", "Refusal", "RunStats", "TokenBucket",
    "quiet_http_logging", "write_run_line",
    "request_id", "run_requests", "arun_requests", "load_responses", "answered_ids", "iter_output_rows",
    "errors_path_for", "runs_path_for",
]
