"""A lazily started, per-process pool of killable symbolic workers.

Why subprocesses (``python -m skymath_tasks.grader.worker``) and not ``multiprocessing``: a worker
must be killable at any instant (SymPy can hang inside C-level big-integer arithmetic, where no
signal-based timeout fires), and lm-eval's parent process holds threads (torch), so ``fork`` is unsafe
and ``spawn``/``forkserver`` would re-import lm-eval's ``__main__`` in every worker.

Each item gets a wall-clock deadline; a worker that misses it is SIGKILLed and a warm spare takes its
place at once (a new spare starts in the background), so one pathological answer costs its own
time limit and nothing more. A crashed worker (memory cap, segfault) is replaced the same way. The
pool starts on first use and is shut down at interpreter exit.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

_PKG_ROOT = str(Path(__file__).resolve().parents[2])
STARTUP_TIMEOUT_S = 120.0


@dataclass
class JobResult:
    ok: bool
    tier: str
    reason: str


class _Worker:
    def __init__(self, memory_mb: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = _PKG_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONHASHSEED"] = "0"  # deterministic set ordering inside SymPy
        env["SKYMATH_GRADER_MEMORY_MB"] = str(memory_mb)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "skymath_tasks.grader.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, close_fds=True, start_new_session=True,
        )
        self.fd = self.proc.stdout.fileno()
        self.buf = b""
        self.ready = False

    def _readline(self, deadline: float) -> bytes | None:
        """One line, or None on EOF; raises TimeoutError past ``deadline``."""
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                raise TimeoutError
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, deadline: float | None = None) -> bool:
        if self.ready:
            return True
        try:
            line = self._readline(deadline if deadline is not None else time.monotonic() + STARTUP_TIMEOUT_S)
        except TimeoutError:
            return False
        self.ready = bool(line) and json.loads(line).get("ready", False)
        return self.ready

    def send(self, job: dict) -> bool:
        try:
            self.proc.stdin.write((json.dumps(job) + "\n").encode())
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError):
            return False

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self.kill()


class WorkerPool:
    """Run jobs in worker processes with per-job wall-clock limits; thread-safe, one batch at a time."""

    def __init__(self, memory_mb: int = 2048, spares: int = 1) -> None:
        self.memory_mb = memory_mb
        self.spares = max(0, spares)
        self.pid = os.getpid()
        self._idle: deque[_Worker] = deque()
        self._lock = threading.Lock()
        self.killed = 0
        self.crashed = 0
        self.started = 0
        self._warm = False

    def _new(self) -> _Worker:
        self.started += 1
        return _Worker(self.memory_mb)

    def _acquire(self, deadline: float) -> _Worker | None:
        """A ready worker, or None if none becomes ready before ``deadline`` (a spare still starting)."""
        for w in list(self._idle):
            if w.ready:
                self._idle.remove(w)
                if w.alive():
                    return w
                w.kill()  # died while idle (e.g. the OOM killer): drop it
                self.crashed += 1
        failures = 0
        while True:
            w = self._idle.popleft() if self._idle else self._new()
            if w.wait_ready(deadline):
                return w
            if w.alive() and time.monotonic() >= deadline:
                self._idle.appendleft(w)  # still importing: keep it for the next item
                return None
            w.kill()  # failed to start: try a fresh one
            self.crashed += 1
            failures += 1
            if failures > 5:
                raise RuntimeError("symbolic workers fail to start")

    def _top_up(self, busy: int, workers: int) -> None:
        while len(self._idle) + busy < workers + self.spares:
            self._idle.append(self._new())

    def warmup(self, workers: int = 1) -> None:
        """Start (and wait for) the workers now instead of on the first symbolic item."""
        with self._lock:
            self._top_up(0, workers)
            for w in list(self._idle):
                w.wait_ready()
            self._warm = True

    def run_many(self, jobs: list[dict], timeout_s: float, workers: int = 1) -> list[JobResult]:
        with self._lock:
            if not self._warm:
                # the first start is the pool's cost, not the item's: wait for the imports
                self._top_up(0, max(1, workers))
                for w in list(self._idle):
                    w.wait_ready()
                self._warm = True
            return self._run_many(jobs, timeout_s, max(1, workers))

    def _run_many(self, jobs: list[dict], timeout_s: float, workers: int) -> list[JobResult]:
        results: list[JobResult | None] = [None] * len(jobs)
        pending = deque(enumerate(jobs))
        active: dict[int, tuple[_Worker, int, float]] = {}
        while pending or active:
            while pending and len(active) < workers:
                idx, job = pending.popleft()
                deadline = time.monotonic() + timeout_s  # one budget: waiting for a spare + the work
                w = self._acquire(deadline)
                if w is None:
                    results[idx] = JobResult(False, "timeout", f"no symbolic worker ready within {timeout_s:g}s")
                    continue
                self._top_up(len(active) + 1, workers)
                if not w.send({**job, "id": idx}):
                    w.kill()
                    self.crashed += 1
                    results[idx] = JobResult(False, "error", "worker died before the job was sent")
                    continue
                active[w.fd] = (w, idx, deadline)
            if not active:
                continue
            now = time.monotonic()
            wait = max(0.0, min(d for _, _, d in active.values()) - now)
            ready_fds = [fd for fd, (w, _, _) in active.items() if b"\n" in w.buf]
            if not ready_fds:
                r, _, _ = select.select(list(active), [], [], wait)
                ready_fds = list(r)
            for fd in ready_fds:
                w, idx, deadline = active[fd]
                if b"\n" not in w.buf:
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        del active[fd]
                        w.kill()
                        self.crashed += 1
                        results[idx] = JobResult(False, "crash", "symbolic worker crashed (memory cap or fault)")
                        self._top_up(len(active), workers)
                        continue
                    w.buf += chunk
                if b"\n" in w.buf:
                    line, _, w.buf = w.buf.partition(b"\n")
                    del active[fd]
                    try:
                        reply = json.loads(line)
                        results[idx] = JobResult(bool(reply.get("ok")), str(reply.get("tier", "symbolic")),
                                                 str(reply.get("reason", "")))
                        self._idle.appendleft(w)
                    except ValueError:
                        w.kill()
                        results[idx] = JobResult(False, "error", "garbled worker reply")
            now = time.monotonic()
            for fd, (w, idx, deadline) in list(active.items()):
                if now >= deadline and b"\n" not in w.buf:
                    del active[fd]
                    w.kill()
                    self.killed += 1
                    results[idx] = JobResult(False, "timeout", f"symbolic check exceeded {timeout_s:g}s; worker killed")
                    self._top_up(len(active), workers)
        return [r if r is not None else JobResult(False, "error", "no result") for r in results]

    def shutdown(self) -> None:
        with self._lock:
            while self._idle:
                self._idle.popleft().close()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def get_pool(memory_mb: int = 2048, spares: int = 1) -> WorkerPool:
    """The process-wide pool (a forked child gets its own; a different memory cap restarts it)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and (_POOL.pid != os.getpid()):
            _POOL = None  # inherited from a parent process: its pipes are not ours
        if _POOL is not None and _POOL.memory_mb != memory_mb:
            _POOL.shutdown()
            _POOL = None
        if _POOL is None:
            _POOL = WorkerPool(memory_mb, spares)
        return _POOL


def shutdown_pool() -> None:
    global _POOL
    with _POOL_LOCK:
        if _POOL is not None and _POOL.pid == os.getpid():
            _POOL.shutdown()
        _POOL = None


atexit.register(shutdown_pool)
