"""Retraining behind ``civic-ner serve``: one background worker, events coalesced, the regression gate.

An annotation event (or the "Start training" button) calls :meth:`Retrainer.schedule`. One worker
thread runs one job at a time; events that arrive while a job runs are folded into the next job
(however many arrive, one more run). A job:

1. merges the project's finished annotations into the annotations file (:func:`civic_ner.labelstudio.pull`,
   the key from ``LABEL_STUDIO_API_KEY``); nothing new and no button press: no training;
2. runs ``civic-ner retrain`` (:func:`civic_ner.loop.retrain`: train a candidate, score old and new on
   the same dev split, promote or not) in a child process, so that a crash, or the memory of training,
   never reaches the server;
3. on promotion loads the new model and swaps it in (:meth:`civic_ner.serve.Backend.swap`); requests
   under way finish on the old one. Then Label Studio is told the new version
   (:func:`civic_ner.labelstudio_backend.follow_version`).

Any failure is logged and kept in :meth:`Retrainer.status` (``/health``); the served model stays.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("civic_ner.serve")

EXIT_NOT_PROMOTED = 3  # civic_ner.loop_cli.EXIT_NOT_PROMOTED


@dataclass
class Job:
    """What the next run is for: the project to pull from and the events folded into it."""

    project_title: str
    project_id: int | None
    events: list[str] = field(default_factory=list)
    force: bool = False  # the training button: train even with nothing new


@dataclass
class Outcome:
    """The result of ``civic-ner retrain``: promoted or not, dev micro F1 old vs new, the model directory."""

    promoted: bool
    reason: str
    old_f1: float | None
    new_f1: float | None
    model_dir: Path | None


@dataclass
class Steps:
    """The three steps of a job; the defaults are :func:`default_steps`, tests pass their own."""

    pull: Callable[[Job], bool]  # merge new annotations; True when something changed
    train: Callable[[], Outcome]
    promoted: Callable[[Path], str]  # load and swap in a promoted model; its version
    announce: Callable[[Job, str, str], None] = lambda job, old, new: None  # tell Label Studio


class Retrainer:
    """One worker thread; :meth:`schedule` never blocks (Label Studio gives a webhook one second)."""

    def __init__(self, steps: Steps, version: Callable[[], str]) -> None:
        self.steps, self.version = steps, version
        self._cond = threading.Condition()
        self._pending: Job | None = None
        self._running: Job | None = None
        self._thread: threading.Thread | None = None
        self._stage = "idle"
        self.runs = 0
        self.last: dict[str, Any] | None = None

    def schedule(self, event: str, project_title: str, project_id: int | None = None, force: bool = False) -> str:
        """Queue a run for ``event``: ``"started"``, or ``"queued"`` when folded into the next run."""
        with self._cond:
            if self._pending is None:
                self._pending = Job(project_title, project_id)
            pending = self._pending
            pending.project_title = project_title
            if project_id is not None:
                pending.project_id = project_id
            pending.events.append(event)
            pending.force = pending.force or force
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="civic-ner-retrain", daemon=True)
                self._thread.start()
            self._cond.notify_all()
            return "queued" if self._running is not None else "started"

    def status(self) -> dict[str, Any]:
        """The worker's state for /health: idle or the stage running, whether a run is queued, the last result."""
        with self._cond:
            return {"state": self._stage, "queued": self._pending is not None, "runs": self.runs, "last": self.last}

    def wait_idle(self, timeout: float) -> bool:
        """Block until no run is running or queued (tests, shutdown); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending is not None or self._running is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None:
                    self._cond.wait()
                self._running, self._pending = self._pending, None
            started = time.monotonic()
            try:
                result = self._run(self._running)
            except Exception as exc:  # noqa: BLE001 - the served model stays; the failure is reported
                log.exception("retrain failed; still serving model_version %s", self.version())
                result = {"result": "failed", "error": f"{type(exc).__name__}: {exc}"}
            result.update(events=self._running.events, seconds=round(time.monotonic() - started, 1),
                          finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            with self._cond:
                self.last, self.runs, self._running, self._stage = result, self.runs + 1, None, "idle"
                self._cond.notify_all()

    def _set_stage(self, stage: str) -> None:
        with self._cond:
            self._stage = stage

    def _run(self, job: Job) -> dict[str, Any]:
        self._set_stage("pulling annotations")
        changed = self.steps.pull(job)
        if not changed and not job.force:
            log.info("retrain: no new or changed annotation in %r; nothing to train", job.project_title)
            return {"result": "nothing new"}
        self._set_stage("training")
        old_version = self.version()
        log.info("retrain: training a candidate (%s; serving %s meanwhile)", ", ".join(job.events), old_version)
        outcome = self.steps.train()
        summary = {"result": "promoted" if outcome.promoted else "not promoted", "reason": outcome.reason,
                   "old_dev_f1": outcome.old_f1, "new_dev_f1": outcome.new_f1}
        log.info("retrain: %s (%s)", summary["result"], outcome.reason)
        if outcome.promoted and outcome.model_dir is not None:
            self._set_stage("loading the promoted model")
            new_version = self.steps.promoted(outcome.model_dir)
            summary.update(old_version=old_version, model_version=new_version)
            self._set_stage("telling Label Studio")
            try:
                self.steps.announce(job, old_version, new_version)
            except Exception as exc:  # noqa: BLE001 - the new model serves; Label Studio just was not told
                log.warning("retrain: could not tell Label Studio about %s (%s)", new_version, exc)
                summary["announce_error"] = str(exc)
        return summary


# ---------------------------------------------------------------- the default steps


def retrain_command(config: Path, current: Path, annotations: Path) -> list[str]:
    """``civic-ner retrain`` as a child process of this Python (same environment, same civic-ner)."""
    return [sys.executable, "-c", "import sys; from civic_ner.cli import main; sys.exit(main(sys.argv[1:]))",
            "retrain", "--config", str(config), "--current", str(current), "--annotations", str(annotations)]


def run_retrain(command: list[str], current: Path) -> Outcome:
    """Run a retrain command; its exit code says promoted (0), refused by the gate (3) or failed
    (anything else: :class:`RuntimeError` with its last error line). F1s come from its gate.json."""
    done = subprocess.run(command, capture_output=True, text=True)
    for line in (done.stdout + done.stderr).splitlines()[-40:]:
        log.info("retrain | %s", line)
    if done.returncode not in (0, EXIT_NOT_PROMOTED):
        last = next((l for l in reversed(done.stderr.splitlines()) if l.strip()), f"exit code {done.returncode}")
        raise RuntimeError(f"civic-ner retrain exited with {done.returncode}: {last.strip()[:300]}")
    promoted = done.returncode == 0
    run_dir = current if promoted else current.with_name(f"{current.name}.rejected")
    gate = json.loads((run_dir / "gate.json").read_text(encoding="utf-8"))

    def f1(scores: dict | None) -> float | None:
        return round(float(scores["micro"]["f1"]), 4) if scores else None

    return Outcome(promoted, gate["reason"], f1(gate.get("old_dev")), f1(gate.get("new_dev")),
                   run_dir / "model" if promoted else None)


def default_steps(config: Path, current: Path, annotations: Path, promoted: Callable[[Path], str]) -> Steps:
    """Pull from Label Studio (``LABEL_STUDIO_URL``/``LABEL_STUDIO_API_KEY``), retrain in a child process,
    swap the promoted model in with ``promoted``, then point the project at the new version."""
    from . import labelstudio, labelstudio_backend

    def pull(job: Job) -> bool:
        client = labelstudio.connect()
        summary = labelstudio.pull(client, job.project_title, annotations, rebuild=False)
        log.info("retrain: pulled %r: %d added, %d replaced", job.project_title, len(summary.added), len(summary.replaced))
        return summary.changed

    def announce(job: Job, old: str, new: str) -> None:
        client = labelstudio.connect()
        project_id = job.project_id if job.project_id is not None else labelstudio.find_project(client, job.project_title).id
        labelstudio_backend.follow_version(client, project_id, old, new)

    return Steps(pull, lambda: run_retrain(retrain_command(config, current, annotations), current), promoted, announce)
