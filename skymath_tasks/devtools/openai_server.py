"""A small, real OpenAI-compatible HTTP server for tests and benchmarks (stdlib only).

Why our own: tests must drive the real ``openai`` SDK over real sockets (retries, timeouts, torn bodies
are HTTP-level behaviour a mock cannot show), offline and fast. This server speaks the wire format of

* ``POST /v1/chat/completions``  (non-streaming)
* ``POST /v1/completions``       (non-streaming)
* ``GET  /v1/models``
* ``POST /v1/files`` (multipart), ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``
* ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``

Usage::

    from skymath_tasks.devtools.openai_server import FakeOpenAIServer

    def answer(req: dict) -> str:              # request JSON -> reply text (or a dict, see below)
        return "2 + 2 = 4\\nThe answer is 4"

    with FakeOpenAIServer(answer, latency_s=0.05) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test")
        ...
        srv.inject("429", times=2, retry_after=0.1)   # the next 2 model requests get HTTP 429
        srv.request_count()                           # model requests received (faulted ones included)
        srv.log                                       # list[LoggedRequest]: path, body, fault, request_id

As a pytest fixture::

    @pytest.fixture
    def openai_server():
        with FakeOpenAIServer() as srv:
            yield srv

**Responder.** ``responder(request_json) -> str | dict``. A ``str`` is the reply text. A ``dict`` may hold
``text`` (``None`` sends ``"content": null``), ``finish_reason`` (default ``"stop"``), ``refusal`` (the
message's refusal field), ``usage`` (overrides the computed one) and ``status`` + ``error`` (+ ``code``,
e.g. ``"content_filter"``) to answer with an API error instead. For ``/v1/completions`` the request JSON has
``prompt`` instead of ``messages``. The default responder echoes the last user message and ends with
``The answer is 42``. The responder runs in a server thread: make it thread-safe. If it raises, the
server answers 500 (and a batch line gets an error entry).

**Faults** (``inject(kind, times=1, match=None, ...)``), applied to the next ``times`` model requests
(chat or completions, also batch lines for ``"500"``) whose JSON satisfies ``match(req) -> bool``:

=============  ==========================================================================
``"429"``      HTTP 429 with ``retry-after: <retry_after>`` (seconds, default 0.05)
``"500"``      HTTP 500 with an OpenAI-style error body
``"hang"``     sleep ``hang_s`` (default 30 s, i.e. longer than the client timeout), then drop
``"malformed"``  HTTP 200 with a body that is not JSON
``"truncated"``  HTTP 200 whose Content-Length promises more bytes than are sent, then close
``"drop"``     close the connection without any response
=============  ==========================================================================

``fault_fn(req_json, n) -> kind | None`` (constructor argument) decides per request instead, ``n`` being
the 1-based index of the model request. Every model request is logged in ``log`` with the fault it got
and the ``X-Request-Id`` header (the SkyMath client sends its deterministic request id there, so tests
can count how often each id was sent: ``count_by_request_id()``).

**Batches.** A created batch is processed in a background thread with the responder (lines in random
order in the output file, as OpenAI does); status goes ``validating`` -> ``in_progress`` ->
``completed`` after ``batch_delay_s``. Lines whose responder raises go to the error file.

Not covered: streaming, auth (any key is accepted), tools/function calling.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import random
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], "str | dict[str, Any]"]
FaultFn = Callable[[dict[str, Any], int], "str | None"]

FAULT_KINDS = ("429", "500", "hang", "malformed", "truncated", "drop")
MODEL_PATHS = ("/v1/chat/completions", "/v1/completions")


def default_responder(req: dict[str, Any]) -> str:
    if "messages" in req:
        msgs = req.get("messages") or [{}]
        last = msgs[-1].get("content", "") if isinstance(msgs[-1], dict) else ""
    else:
        last = str(req.get("prompt", ""))
    return f"Echo: {str(last)[:200]}\nThe answer is 42"


def approx_tokens(text: str) -> int:
    """Rough token count (4 characters per token): enough for usage and TPM tests."""
    return max(1, (len(text) + 3) // 4)


@dataclass
class LoggedRequest:
    path: str
    body: dict[str, Any] | None
    fault: str | None
    request_id: str | None
    time: float


@dataclass
class _Fault:
    kind: str
    times: int
    match: Callable[[dict[str, Any]], bool] | None
    retry_after: float
    hang_s: float


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None
    created_at: int
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    total: int = 0
    completed: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": None,
            "expires_at": self.created_at + 86400,
            "finalizing_at": None,
            "completed_at": int(time.time()) if self.status == "completed" else None,
            "failed_at": None,
            "expired_at": None,
            "cancelling_at": None,
            "cancelled_at": None,
            "request_counts": {"total": self.total, "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses connections
    server: "_HTTPServer"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK add
        # ~40 ms to every response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence stderr access log
        pass

    # -- plumbing ---------------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj).encode()
        self._send_bytes(status, data, "application/json", headers)

    def _send_bytes(self, status: int, data: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, etype: str = "invalid_request_error",
               headers: dict[str, str] | None = None, code: str | None = None) -> None:
        self._send_json(status, {"error": {"message": message, "type": etype, "param": None, "code": code}}, headers)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routing ----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802
        srv = self.server.owner
        path = self.path.split("?", 1)[0]
        if path == "/v1/models":
            return self._send_json(200, {"object": "list", "data": [
                {"id": srv.model, "object": "model", "created": 0, "owned_by": "skymath-test"}]})
        parts = path.strip("/").split("/")
        if len(parts) >= 3 and parts[:2] == ["v1", "files"]:
            fid = parts[2]
            with srv._lock:
                f = srv.files.get(fid)
            if f is None:
                return self._error(404, f"No such file: {fid}")
            if len(parts) == 4 and parts[3] == "content":
                return self._send_bytes(200, f["content"], "application/octet-stream")
            return self._send_json(200, f["meta"])
        if len(parts) == 3 and parts[:2] == ["v1", "batches"]:
            with srv._lock:
                b = srv.batches.get(parts[2])
                body = b.to_json() if b else None
            if body is None:
                return self._error(404, f"No such batch: {parts[2]}")
            return self._send_json(200, body)
        self._error(404, f"Unknown path {path}")

    def do_POST(self) -> None:  # noqa: N802
        srv = self.server.owner
        path = self.path.split("?", 1)[0]
        raw = self._read_body()
        if path in MODEL_PATHS:
            return self._model_request(path, raw)
        if path == "/v1/files":
            return self._upload_file(raw)
        if path == "/v1/batches":
            try:
                req = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                return self._error(400, "body is not JSON")
            with srv._lock:
                if req.get("input_file_id") not in srv.files:
                    return self._error(400, f"No such file: {req.get('input_file_id')}")
            b = srv._create_batch(req)
            return self._send_json(200, b)
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "batches"] and parts[3] == "cancel":
            with srv._lock:
                b = srv.batches.get(parts[2])
                if b is not None and b.status not in ("completed", "failed"):
                    b.status = "cancelled"
                body = b.to_json() if b else None
            if body is None:
                return self._error(404, f"No such batch: {parts[2]}")
            return self._send_json(200, body)
        self._error(404, f"Unknown path {path}")

    # -- model endpoints --------------------------------------------------------------------------
    def _model_request(self, path: str, raw: bytes) -> None:
        srv = self.server.owner
        try:
            req = json.loads(raw or b"{}")
            if not isinstance(req, dict):
                raise ValueError
        except ValueError:
            return self._error(400, "body is not a JSON object")
        fault = srv._take_fault(req)
        srv._log(LoggedRequest(path, req, fault.kind if fault else None, self.headers.get("X-Request-Id"), time.time()))
        if srv.latency_s:
            time.sleep(srv.latency_s)
        if fault is not None:
            if fault.kind == "429":
                return self._error(429, "Rate limit reached (injected)", "rate_limit_error",
                                   headers={"retry-after": f"{fault.retry_after:g}",
                                            "retry-after-ms": str(int(fault.retry_after * 1000))})
            if fault.kind == "500":
                return self._error(500, "The server had an error (injected)", "server_error")
            if fault.kind == "hang":
                time.sleep(fault.hang_s)
                return self._drop()
            if fault.kind == "malformed":
                return self._send_bytes(200, b'{"id": "chatcmpl-x", "choices": [ {"mess', "application/json")
            if fault.kind == "truncated":
                body = json.dumps(srv._build_reply(path, req)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                return self._drop()
            if fault.kind == "drop":
                return self._drop()
        try:
            reply = srv._build_reply(path, req)
        except _ApiError as exc:
            return self._error(exc.status, exc.message, code=exc.code)
        except Exception as exc:  # responder bug: surface as a server error, keep serving
            return self._error(500, f"responder raised {type(exc).__name__}: {exc}", "server_error")
        self._send_json(200, reply)

    # -- files ------------------------------------------------------------------------------------
    def _upload_file(self, raw: bytes) -> None:
        srv = self.server.owner
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            return self._error(400, "expected multipart/form-data")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n" + raw)
        purpose, filename, content = None, "upload.jsonl", None
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "purpose":
                purpose = part.get_payload(decode=True).decode()
            elif name == "file":
                filename = part.get_filename() or filename
                content = part.get_payload(decode=True)
        if content is None:
            return self._error(400, "missing 'file' part")
        meta = srv._store_file(content, filename, purpose or "batch")
        self._send_json(200, meta)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
    owner: "FakeOpenAIServer"


class _ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


class FakeOpenAIServer:
    """See the module docstring. Start with ``with FakeOpenAIServer(...) as srv`` or ``start()``/``stop()``."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency_s: float = 0.0,
        model: str = "skymath-test-model",
        fault_fn: FaultFn | None = None,
        batch_delay_s: float = 0.05,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.responder: Responder = responder or default_responder
        self.latency_s = latency_s
        self.model = model
        self.fault_fn = fault_fn
        self.batch_delay_s = batch_delay_s
        self.log: list[LoggedRequest] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.batches: dict[str, _Batch] = {}
        self._faults: list[_Fault] = []
        self._n_model = 0
        self._lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        """Pass as ``base_url`` to the openai client (ends with ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "FakeOpenAIServer":
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name=f"fake-openai-{self.port}", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> "FakeOpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults and logs --------------------------------------------------------------------------
    def inject(
        self,
        kind: str,
        times: int = 1,
        *,
        match: Callable[[dict[str, Any]], bool] | None = None,
        retry_after: float = 0.05,
        hang_s: float = 30.0,
    ) -> None:
        """Make the next ``times`` model requests (that satisfy ``match``) fail with ``kind``."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {FAULT_KINDS}")
        with self._lock:
            self._faults.append(_Fault(kind, times, match, retry_after, hang_s))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def request_count(self, path: str | None = None) -> int:
        """Model requests received so far (including faulted ones); ``path`` narrows to one endpoint."""
        with self._lock:
            return sum(1 for r in self.log if path is None or r.path == path)

    def count_by_request_id(self) -> Counter[str]:
        """How many times each ``X-Request-Id`` reached the server (faulted attempts included)."""
        with self._lock:
            return Counter(r.request_id for r in self.log if r.request_id is not None)

    def reset_log(self) -> None:
        with self._lock:
            self.log.clear()

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.log.append(entry)

    def _take_fault(self, req: dict[str, Any]) -> _Fault | None:
        with self._lock:
            self._n_model += 1
            n = self._n_model
            for f in self._faults:
                if f.times > 0 and (f.match is None or f.match(req)):
                    f.times -= 1
                    if f.times == 0:
                        self._faults.remove(f)
                    return f
        if self.fault_fn is not None:
            kind = self.fault_fn(req, n)
            if kind is not None:
                if kind not in FAULT_KINDS:
                    raise ValueError(f"fault_fn returned unknown fault {kind!r}")
                return _Fault(kind, 1, None, 0.05, 30.0)
        return None

    # -- replies ----------------------------------------------------------------------------------
    def _build_reply(self, path: str, req: dict[str, Any]) -> dict[str, Any]:
        out = self.responder(req)
        if isinstance(out, str):
            out = {"text": out}
        if "status" in out and out["status"] != 200:
            raise _ApiError(int(out["status"]), str(out.get("error", "error")), out.get("code"))
        text = None if "text" in out and out["text"] is None else str(out.get("text", ""))
        finish = out.get("finish_reason", "stop")
        if "messages" in req:
            prompt_text = "".join(str(m.get("content", "")) for m in req.get("messages", []) if isinstance(m, dict))
        else:
            prompt_text = str(req.get("prompt", ""))
        usage = out.get("usage") or {
            "prompt_tokens": approx_tokens(prompt_text),
            "completion_tokens": approx_tokens(text or ""),
        }
        usage = {**usage, "total_tokens": usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)}
        model = req.get("model") or self.model
        created = int(time.time())
        if path == "/v1/completions":
            return {"id": f"cmpl-{uuid.uuid4().hex[:12]}", "object": "text_completion", "created": created,
                    "model": model, "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
                    "usage": usage}
        message = {"role": "assistant", "content": text}
        if out.get("refusal") is not None:
            message["refusal"] = out["refusal"]
        return {"id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion", "created": created,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage}

    # -- files and batches ------------------------------------------------------------------------
    def _store_file(self, content: bytes, filename: str, purpose: str) -> dict[str, Any]:
        fid = f"file-{uuid.uuid4().hex[:16]}"
        meta = {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                "filename": filename, "purpose": purpose, "status": "processed"}
        with self._lock:
            self.files[fid] = {"meta": meta, "content": content}
        return meta

    def _create_batch(self, req: dict[str, Any]) -> dict[str, Any]:
        b = _Batch(id=f"batch_{uuid.uuid4().hex[:16]}", input_file_id=req["input_file_id"],
                   endpoint=req.get("endpoint", "/v1/chat/completions"),
                   completion_window=req.get("completion_window", "24h"), metadata=req.get("metadata"),
                   created_at=int(time.time()))
        with self._lock:
            self.batches[b.id] = b
            body = b.to_json()
        threading.Thread(target=self._run_batch, args=(b,), daemon=True).start()
        return body

    def _run_batch(self, b: _Batch) -> None:
        with self._lock:
            content = self.files[b.input_file_id]["content"]
        lines = [ln for ln in content.decode("utf-8").splitlines() if ln.strip()]
        with self._lock:
            b.status = "in_progress"
            b.total = len(lines)
        time.sleep(self.batch_delay_s)
        outputs, errors = [], []
        for i, line in enumerate(lines, start=1):
            try:
                item = json.loads(line)
                custom_id = item["custom_id"]
                body = item["body"]
            except (ValueError, KeyError, TypeError):
                with self._lock:
                    b.errors.append({"code": "invalid_request", "line": i, "message": "bad input line"})
                continue
            fault = self._take_fault(body)
            self._log(LoggedRequest(b.endpoint, body, fault.kind if fault else None, custom_id, time.time()))
            try:
                if fault is not None:
                    raise _ApiError(500, f"injected {fault.kind}")
                reply = self._build_reply(item.get("url", b.endpoint), body)
                outputs.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": custom_id,
                                "response": {"status_code": 200, "request_id": uuid.uuid4().hex, "body": reply},
                                "error": None})
            except Exception as exc:
                errors.append({"id": f"batch_req_{uuid.uuid4().hex[:12]}", "custom_id": custom_id, "response": None,
                               "error": {"code": "server_error", "message": str(exc)}})
        random.Random(b.id).shuffle(outputs)  # OpenAI returns results in any order: callers must join on id
        with self._lock:
            if b.status == "cancelled":
                return
            if outputs:
                b.output_file_id = self._store_file_locked(outputs, f"{b.id}_output.jsonl")
            if errors:
                b.error_file_id = self._store_file_locked(errors, f"{b.id}_error.jsonl")
            b.completed, b.failed = len(outputs), len(errors)
            b.status = "completed"

    def _store_file_locked(self, rows: list[dict[str, Any]], filename: str) -> str:
        content = "".join(json.dumps(r) + "\n" for r in rows).encode()
        fid = f"file-{uuid.uuid4().hex[:16]}"
        self.files[fid] = {"meta": {"id": fid, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                                    "filename": filename, "purpose": "batch_output", "status": "processed"},
                           "content": content}
        return fid


__all__ = ["FakeOpenAIServer", "LoggedRequest", "default_responder", "approx_tokens", "FAULT_KINDS"]
