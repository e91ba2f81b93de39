"""Throughput of the synthesis client against a local OpenAI-compatible server with simulated latency.

What it measures: requests/s that :func:`synth.client.run_requests` achieves at a given concurrency when
every response takes ``--latency`` seconds on the server, versus the ideal ``concurrency / latency``
(what a client with zero overhead would get). The ratio shows how much of the concurrency budget the
client itself wastes (CPU per request, connection handling, output writing).

The server (``skymath_tasks/devtools/openai_server.py``) runs in its own process, as a remote endpoint would, so
the client does not share a GIL with it. A warm-up run (imports, connection pool) is excluded from the
timing. Two figures: the whole run (includes the ramp-up and the last, partly idle wave) and the steady
state (rate between the 10th and the 90th percentile of completions). After each run a bare aiohttp loop
(no SDK, no retries, no output file) is timed against the same server as a same-run baseline: on a
busy machine it shows how much of the gap to the ideal is the machine rather than the client. Usage::

    python bench/synth_client.py                       # concurrency 64, 200 ms, 3200 requests
    python bench/synth_client.py --concurrency 64 --latency 0.2 --requests 3200 --backend httpx

Target: ratio >= 0.90. The machine's other load matters (2 shared cores): the script prints the load
average next to the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _serve(latency: float, port_q: "mp.Queue[int]", stop: "mp.Event") -> None:  # type: ignore[type-arg]
    from skymath_tasks.devtools.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(latency_s=latency) as srv:
        port_q.put(srv.port)
        stop.wait()


async def _raw_baseline(url: str, concurrency: int, n: int) -> float:
    """Requests/s of a bare aiohttp loop (no SDK, no retries, no output file) against the same server:
    what this machine and server allow right now, measured next to our client."""
    import json

    import aiohttp

    body = json.dumps({"model": "bench", "messages": [{"role": "user", "content": "Solve problem 0."}]})
    it = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def worker() -> None:
            for _ in it:
                async with s.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                    await r.read()

        await asyncio.gather(*(worker() for _ in range(concurrency)))  # warm the connections
        it = iter(range(n))
        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return n / (time.perf_counter() - t0)


async def _measure(cfg, args, ChatClient, ChatRequest, arun_requests, request_id):  # noqa: N803
    """Warm up, then time ``repeats`` runs on one client (connections stay open, as in a long job)."""
    client = ChatClient(cfg)
    done_at: list[float] = []
    inner = client.complete

    async def timed_complete(req):
        resp = await inner(req)
        done_at.append(time.perf_counter())
        return resp

    client.complete = timed_complete  # type: ignore[method-assign]
    overall, steady, raw = [], [], []
    with tempfile.TemporaryDirectory() as d:
        warm = [ChatRequest(request_id("warm", i), [{"role": "user", "content": f"warm {i}"}])
                for i in range(args.concurrency * 3)]
        await arun_requests(client, warm, Path(d) / "warm.jsonl", progress=False, close_client=False)
        for r in range(args.repeats):
            reqs = [ChatRequest(request_id("bench", r, i), [{"role": "user", "content": f"Solve problem {i}."}])
                    for i in range(args.requests)]
            done_at.clear()
            t0 = time.perf_counter()
            cpu0 = time.process_time()
            stats = await arun_requests(client, reqs, Path(d) / f"run{r}.jsonl", progress=False,
                                        close_client=r == args.repeats - 1)
            wall = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            assert stats.ok == args.requests, stats.summary()
            lo, hi = int(0.1 * len(done_at)), int(0.9 * len(done_at))
            rate_steady = (hi - lo) / (done_at[hi - 1] - done_at[lo])
            overall.append(args.requests / wall)
            steady.append(rate_steady)
            if args.baseline:
                raw.append(await _raw_baseline(cfg.base_url + "/chat/completions", args.concurrency, args.requests))
            print(f"run {r + 1}: whole run {args.requests / wall:7.1f} req/s ({wall:.2f} s), steady state "
                  f"{rate_steady:7.1f} req/s; client CPU {1000 * cpu / args.requests:.2f} ms/request"
                  + (f"; bare aiohttp baseline {raw[-1]:7.1f} req/s" if raw else ""))
    return overall, steady, raw


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.2, help="simulated server latency, seconds")
    ap.add_argument("--requests", type=int, default=3200)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; medians are reported")
    ap.add_argument("--backend", choices=("aiohttp", "httpx"), default="aiohttp")
    ap.add_argument("--no-baseline", dest="baseline", action="store_false",
                    help="skip the bare-aiohttp baseline measured after each run")
    args = ap.parse_args(argv)

    from synth.client import ChatClient, ChatRequest, ClientConfig, arun_requests, request_id

    ctx = mp.get_context("spawn")
    port_q: mp.Queue = ctx.Queue()
    stop = ctx.Event()
    proc = ctx.Process(target=_serve, args=(args.latency, port_q, stop), daemon=True)
    proc.start()
    try:
        port = port_q.get(timeout=60)
        cfg = ClientConfig(base_url=f"http://127.0.0.1:{port}/v1", model="bench", max_concurrency=args.concurrency,
                           timeout_s=30, max_retries=2, http_backend=args.backend)
        ideal = args.concurrency / args.latency
        overall, steady, raw = asyncio.run(_measure(cfg, args, ChatClient, ChatRequest, arun_requests, request_id))
        overall.sort()
        steady.sort()
        raw.sort()
        print(f"backend={args.backend} concurrency={args.concurrency} latency={args.latency * 1000:.0f} ms "
              f"requests={args.requests} repeats={args.repeats} load_avg={os.getloadavg()[0]:.2f} (2 shared cores)")
        o, st = overall[len(overall) // 2], steady[len(steady) // 2]
        print(f"ideal {ideal:.1f} req/s | whole run (ramp-up and tail included), median: {o:.1f} req/s = "
              f"{o / ideal:.1%} | steady state (middle 80% of completions), median: {st:.1f} req/s = "
              f"{st / ideal:.1%} of ideal (target >= 90%)")
        if raw:
            b = raw[len(raw) // 2]
            print(f"bare aiohttp baseline, same server, same run, median: {b:.1f} req/s = {b / ideal:.1%} of ideal; "
                  f"our client (whole run) = {o / b:.1%} of the baseline")
    finally:
        stop.set()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
