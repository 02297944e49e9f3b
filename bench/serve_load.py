"""Load check of ``civic-ner serve`` (the Label Studio ML backend) over real HTTP.

    .venv/bin/python bench/serve_load.py --model runs/default/model [--threads 1] [--json bench/results/serve_load.json]

The server is started as Label Studio would reach it (``civic-ner serve --no-retrain`` on 127.0.0.1, a
subprocess; it writes nothing into the model directory), then:

1. **Concurrency**: ``--concurrent`` (50) /predict calls of ``--tasks`` (10) real sections each
   (data/{train,dev,test}.jsonl, in rotation) are sent at once; every call must answer 200 with one
   prediction per task and no per-task error. Reported: errors, p50/p95/max latency per call, tasks/s.
2. **Memory**: ``--calls`` (1,000) further /predict calls of one section each, one after another; the
   server's resident set size (/proc/<pid>/status) is sampled every 100 calls. Flat means the last
   sample is within a few MB of the one after call 100 (the first 100 warm the allocator up).

Results go to stdout and, with ``--json``, to a file (bench/results/serve_load.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc (Linux only)")


def sections() -> list[str]:
    texts = []
    for split in ("train", "dev", "test"):
        for line in (ROOT / "data" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def post(url: str, payload: dict, timeout: float = 600) -> tuple[int, dict, float]:
    """(status, answer, seconds) of one POST."""
    data = json.dumps(payload, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, json.loads(answer.read()), time.perf_counter() - started
    except urllib.error.HTTPError as exc:
        return exc.code, {"error": exc.read().decode(errors="replace")}, time.perf_counter() - started


def call_errors(status: int, answer: dict, tasks: int) -> int:
    """1 when a /predict answer is not a full, error-free set of predictions."""
    results = answer.get("results") if isinstance(answer, dict) else None
    ok = status == 200 and isinstance(results, list) and len(results) == tasks and all("result" in r and "error" not in r for r in results)
    return 0 if ok else 1


def start_server(model: str, port: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-c", "import sys; from civic_ner.cli import main; sys.exit(main(sys.argv[1:]))",
               "serve", "--model", model, "--port", str(port), "--no-retrain"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited: {process.stderr.read()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                return process
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not answer /health in 300 s")


def concurrency(url: str, texts: list[str], calls: int, per_call: int) -> dict:
    payloads = [{"tasks": [{"id": c * per_call + i, "data": {"text": texts[(c * per_call + i) % len(texts)]}}
                           for i in range(per_call)]} for c in range(calls)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=calls) as pool:
        answers = list(pool.map(lambda p: post(url, p), payloads))
    wall = time.perf_counter() - started
    latencies = sorted(seconds for _, _, seconds in answers)
    return {
        "calls": calls, "tasks_per_call": per_call, "errors": sum(call_errors(s, a, per_call) for s, a, _ in answers),
        "latency_p50_s": round(statistics.median(latencies), 3),
        "latency_p95_s": round(latencies[max(0, int(round(0.95 * len(latencies))) - 1)], 3),
        "latency_max_s": round(latencies[-1], 3), "wall_s": round(wall, 2), "tasks_per_s": round(calls * per_call / wall, 2),
        "chars": sum(len(t["data"]["text"]) for p in payloads for t in p["tasks"]),
    }


def memory(url: str, pid: int, texts: list[str], calls: int) -> dict:
    samples, errors = [], 0
    for c in range(1, calls + 1):
        status, answer, _ = post(url, {"tasks": [{"id": c, "data": {"text": texts[c % len(texts)]}}]})
        errors += call_errors(status, answer, 1)
        if c % 100 == 0:
            samples.append({"after_calls": c, "rss_mb": round(rss_mb(pid), 1)})
    base = samples[0]["rss_mb"]
    return {"calls": calls, "errors": errors, "rss_samples": samples,
            "rss_growth_after_call_100_mb": round(samples[-1]["rss_mb"] - base, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the server (OMP_NUM_THREADS)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    texts = sections()
    port = free_port()
    started = time.perf_counter()
    server = start_server(args.model, port, args.threads)
    try:
        health = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10).read())
        ready_s = time.perf_counter() - started
        url = f"http://127.0.0.1:{port}/predict"
        rss_start = rss_mb(server.pid)
        burst = concurrency(url, texts, args.concurrent, args.tasks)
        print(json.dumps(burst, indent=2))
        flat = memory(url, server.pid, texts, args.calls)
        print(json.dumps(flat, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=30)
    report = {
        "meta": {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "command": "python bench/serve_load.py "
                 + " ".join(sys.argv[1:] if argv is None else argv), "model_version": health["model_version"],
                 "python": platform.python_version(), "cores": os.cpu_count(), "load_avg": list(os.getloadavg()),
                 "server_threads": args.threads},
        "server_ready_s": round(ready_s, 1), "rss_after_start_mb": round(rss_start, 1),
        "concurrent": burst, "memory": flat,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 1 if burst["errors"] or flat["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
