"""Training benchmark: wall time, peak memory and time per epoch of one ``train.py`` run.

    .venv/bin/python bench/training.py --config configs/default.yaml --output-dir runs/bench

Runs ``/usr/bin/time -v <python> train.py --config CONFIG --output-dir OUTPUT_DIR`` (training output
passes through), then reads ``OUTPUT_DIR/metrics.json``. Wall time and peak RSS come from GNU time;
``train_seconds`` (data and features, both training stages -- the probe on a frozen encoder and the
fine-tuning epochs --, the feature CRF of an ensemble, final dev/test scoring; not the model save)
comes from metrics.json. Run it on a quiet machine: the figures are meaningless while other jobs
share the cores.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_gnu_time(text: str) -> dict:
    out = {}
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["max_rss_mb"] = int(m.group(1)) / 1024
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text)
    if m:
        seconds = 0.0
        for part in m.group(1).split(":"):
            seconds = seconds * 60 + float(part)
        out["wall_s"] = seconds
    m = re.search(r"Percent of CPU this job got: (\d+)%", text)
    if m:
        out["cpu_percent"] = int(m.group(1))
    return out


def cpu_model() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return "?"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/default.yaml")
    p.add_argument("--output-dir", default="runs/bench")
    p.add_argument("--python", default=sys.executable, help="interpreter that runs train.py (default: this one)")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "training.json"))
    p.add_argument("train_args", nargs="*", help="extra train.py arguments after --, e.g. -- --epochs 1")
    args = p.parse_args()
    if not Path("/usr/bin/time").exists():
        print("bench/training.py: /usr/bin/time (GNU time) is required: apt-get install time", file=sys.stderr)
        return 2
    with tempfile.NamedTemporaryFile(suffix=".time", delete=False) as fh:
        time_file = fh.name
    cmd = [
        "/usr/bin/time", "-v", "-o", time_file, args.python, str(ROOT / "train.py"),
        "--config", args.config, "--output-dir", args.output_dir, *args.train_args,
    ]  # fmt: skip
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()
    code = subprocess.call(cmd)
    timing = parse_gnu_time(Path(time_file).read_text(encoding="utf-8", errors="replace"))
    os.unlink(time_file)
    if code != 0:
        print(f"bench/training.py: train.py exited with {code}", file=sys.stderr)
        return code
    metrics = json.loads((Path(args.output_dir) / "metrics.json").read_text(encoding="utf-8"))
    epochs = metrics["epochs_run"]
    probe = metrics.get("probe_epochs", 0)
    result = {
        "date": started,
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "unset: torch uses one thread per core"),
        "command": shlex.join(["/usr/bin/time", "-v", *cmd[4:]]),
        **timing,
        "train_seconds": metrics["train_seconds"],
        "probe_epochs": probe,
        "epochs_run": epochs,
        "trained_on": metrics.get("trained_on"),
        "test_micro_f1": metrics["test"]["micro"]["f1"],
        "device": metrics.get("device"),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(
        f"\nDate (UTC) {result['date']}; {result['cpu']}, {result['cores']} CPUs; "
        f"load before/after {' '.join(f'{x:.2f}' for x in load_before)} / "
        f"{' '.join(f'{x:.2f}' for x in result['load_after'])}\n"
        f"Command: `{result['command']}`\n\n"
        "| wall (s) | peak RSS (MB) | CPU % | train_seconds | probe epochs + fine-tune epochs | trained on | test micro F1 |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {result.get('wall_s', float('nan')):.1f} | {result.get('max_rss_mb', float('nan')):,.0f} | "
        f"{result.get('cpu_percent', '?')} | {result['train_seconds']:.1f} | {probe} + {epochs} | "
        f"{'+'.join(result['trained_on'] or [])} | {result['test_micro_f1']:.3f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
