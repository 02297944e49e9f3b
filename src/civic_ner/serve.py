"""``civic-ner serve``: the model inside Label Studio, as an ML backend (ASGI, Starlette).

Label Studio's ML backend protocol (what Label Studio 1.23 sends, ``label_studio/ml/api_connector.py``):

* ``GET /health`` -> ``{"status": "UP", ...}``; here also the served ``model_version`` and the retraining
  status (``training``: idle/running, queued, the last result with dev F1 old vs new);
* ``POST /setup`` ``{"project", "schema", ...}`` -> ``{"model_version"}``; a labeling config this model
  cannot fill (no ``<Labels name="label" toName="text">``) is refused with one line;
* ``POST /predict`` ``{"tasks": [...], "label_config"}`` -> ``{"results": [one per task], "model_version"}``:
  entity spans with scores, the task score (:func:`civic_ner.labelstudio_tasks.task_score`, for ordering)
  and, when the config has ``<Relations>``, the facts layer's relations. A task that cannot be read gets
  ``{"error": ...}`` in its place (no ``result``: Label Studio stores no prediction for it);
* ``POST /webhook`` ``{"action", "project", ...}``: ``ANNOTATION_CREATED``/``UPDATED`` and the "Start
  training" button (``START_TRAINING``) schedule a retrain (:mod:`civic_ner.serve_worker`); other actions
  are acknowledged and ignored. It answers at once: Label Studio waits one second for a webhook.

Safe by default: the CLI binds 127.0.0.1, and refuses any other address without basic auth
(:data:`AUTH_USER_ENV`/:data:`AUTH_PASSWORD_ENV`, the credentials Label Studio is given for the backend);
requests are bounded in bytes, tasks and characters; no request can take the server down.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import labelstudio_tasks
from .errors import CivicNerError
from .model_dir import model_version

log = logging.getLogger("civic_ner.serve")

AUTH_USER_ENV = "CIVIC_NER_BACKEND_USER"
AUTH_PASSWORD_ENV = "CIVIC_NER_BACKEND_PASSWORD"
TRAIN_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_CREATED", "START_TRAINING")


class ServeError(CivicNerError, ValueError):
    """A server that must not start (unsafe address, bad limits) or a request it refuses."""


@dataclass(frozen=True)
class Limits:
    """Bounds on one request: bytes of the body, tasks, characters of one task's text."""

    max_body_bytes: int = 8 * 1024 * 1024
    max_tasks: int = 100
    max_text_chars: int = 100_000


@dataclass(frozen=True)
class Served:
    """The model answering /predict: swapped whole (one attribute assignment) when a retrain is promoted."""

    tagger: Any
    version: str
    model_dir: Path | None = None
    relation_model: Any = None  # the directory's relations.json; None: the facts layer's cues


def load_served(model_dir: str | Path, precision: str | None = None) -> Served:
    """A model directory loaded for serving (one :class:`~civic_ner.model_dir.ModelDirError` line if not a model)."""
    from .model_dir import load_relation_model
    from .prediction import Tagger

    tagger = Tagger.from_dir(model_dir, precision=precision)
    return Served(tagger, model_version(model_dir), Path(model_dir),
                  load_relation_model(model_dir, tagger.device, tagger.precision))


# ---------------------------------------------------------------- the labeling config


@dataclass(frozen=True)
class LabelConfig:
    """What a prediction needs to know of a project's labeling config."""

    text_key: str = "text"
    relations: frozenset[str] = field(default_factory=frozenset)


def read_label_config(xml: Any) -> LabelConfig:
    """The data key of the text and the relation labels of a config; :class:`ServeError` when the
    config has no ``<Labels name="label" toName="text">`` over a ``<Text name="text">`` (the names
    every prediction of this model uses, :mod:`civic_ner.labelstudio_tasks`)."""
    if not xml:
        return LabelConfig()
    if not isinstance(xml, str):
        raise ServeError(f"the labeling config is {type(xml).__name__}, not XML text")
    return _parse_label_config(xml)


@lru_cache(maxsize=32)  # Label Studio sends the same config with every /predict
def _parse_label_config(xml: str) -> LabelConfig:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise ServeError(f"the labeling config is not valid XML ({exc})") from None
    from_name, to_name = labelstudio_tasks.FROM_NAME, labelstudio_tasks.TO_NAME
    labels = [e for e in root.iter("Labels") if e.get("name") == from_name and e.get("toName") == to_name]
    texts = [e for e in root.iter("Text") if e.get("name") == to_name]
    if not labels or not texts:
        raise ServeError(
            f'civic-ner predicts into <Labels name="{from_name}" toName="{to_name}"> over <Text name="{to_name}">; '
            "this project's labeling config has no such tags (use annotations/label_config.xml)"
        )
    key = (texts[0].get("value") or "$text").lstrip("$")
    relations = frozenset(r.get("value", "") for block in root.iter("Relations") for r in block.iter("Relation"))
    has_block = any(True for _ in root.iter("Relations"))
    from .relations import RELATION_TYPES

    return LabelConfig(key, (relations or frozenset(RELATION_TYPES)) if has_block else frozenset())


# ---------------------------------------------------------------- predictions


class TaskError(ValueError):
    """One task that cannot be predicted: its entry in the response names why."""


def task_text(task: Any, config: LabelConfig, limits: Limits) -> str:
    """The text of one Label Studio task, or :class:`TaskError`."""
    if not isinstance(task, dict):
        raise TaskError(f"a task is a JSON object, not {type(task).__name__}")
    data = task.get("data")
    if not isinstance(data, dict) or config.text_key not in data:
        raise TaskError(f"task has no data.{config.text_key}")
    text = data[config.text_key]
    if not isinstance(text, str):
        raise TaskError(f"data.{config.text_key} is {type(text).__name__}, not text")
    if len(text) > limits.max_text_chars:
        raise TaskError(f"data.{config.text_key} has {len(text)} characters; this server takes at most {limits.max_text_chars}")
    return text


def prediction(text: str, entities: list, version: str, config: LabelConfig, relation_model: Any = None) -> dict[str, Any]:
    """One task's prediction: labelled spans with scores, the task score and, when the config has
    ``<Relations>``, the facts layer's relations between those spans (region ids ``s<i>``)."""
    out = labelstudio_tasks.prediction(text, entities, version)
    if config.relations and entities:
        from .facts import extract_relations

        spans = sorted(e.span for e in entities)
        found = extract_relations(text, spans, relation_model)
        out["result"] += [labelstudio_tasks.relation_item(r) for r in found if r.label in config.relations]
    return out


def task_error(task: Any, message: str, version: str) -> dict[str, Any]:
    return {"error": message, "task": task.get("id") if isinstance(task, dict) else None, "model_version": version}


def predict_tasks(served: Served, tasks: list, config: LabelConfig, limits: Limits) -> list[dict[str, Any]]:
    """One entry per task, in order; readable tasks are predicted together, and a batch that fails is
    retried task by task so that only the task at fault gets an error."""
    results: list[dict[str, Any] | None] = [None] * len(tasks)
    texts: dict[int, str] = {}
    for i, task in enumerate(tasks):
        try:
            texts[i] = task_text(task, config, limits)
        except TaskError as exc:
            results[i] = task_error(task, str(exc), served.version)
    order = list(texts)
    try:
        predicted = dict(zip(order, served.tagger.predict([texts[i] for i in order]))) if order else {}
    except Exception:  # noqa: BLE001 - isolate the task at fault below
        log.exception("batch prediction failed; predicting task by task")
        predicted = {}
        for i in order:
            try:
                predicted[i] = served.tagger.predict([texts[i]])[0]
            except Exception as exc:  # noqa: BLE001 - one task's failure is its own error entry
                log.exception("task %s failed", i)
                results[i] = task_error(tasks[i], f"prediction failed ({type(exc).__name__}: {exc})", served.version)
    for i, entities in predicted.items():
        try:
            results[i] = prediction(texts[i], entities, served.version, config, served.relation_model)
        except Exception as exc:  # noqa: BLE001 - the relation layer failing on one task fails that task only
            log.exception("task %s: relations failed", i)
            results[i] = task_error(tasks[i], f"relations failed ({type(exc).__name__}: {exc})", served.version)
    return [r for r in results if r is not None]


# ---------------------------------------------------------------- auth and request bodies


def credentials_from_env(environ: dict[str, str]) -> tuple[str, str] | None:
    """(user, password) for basic auth from the environment, None when unset; half of a pair is an error."""
    user, password = environ.get(AUTH_USER_ENV, ""), environ.get(AUTH_PASSWORD_ENV, "")
    if bool(user) != bool(password):
        raise ServeError(f"set both {AUTH_USER_ENV} and {AUTH_PASSWORD_ENV} (basic auth), or neither")
    return (user, password) if user else None


def authorized(header: str | None, credentials: tuple[str, str] | None) -> bool:
    """Whether an Authorization header carries the configured basic-auth pair (always true without one)."""
    if credentials is None:
        return True
    if not header or not header.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(header[6:], validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    return secrets.compare_digest(user, credentials[0]) & secrets.compare_digest(password, credentials[1])


class RequestTooLarge(ValueError):
    """A body over :attr:`Limits.max_body_bytes` (read no further)."""


async def read_json(request, limit: int) -> Any:
    """The JSON body of a request, read at most ``limit`` bytes far."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request body of {declared} bytes; this server takes at most {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"request body over {limit} bytes")
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"request body is not JSON ({exc})") from None


# ---------------------------------------------------------------- the backend


class Backend:
    """The served model, its predict thread and the retrainer: what the routes share."""

    def __init__(self, served: Served, limits: Limits = Limits(), retrainer=None) -> None:
        self.served = served
        self.limits = limits
        self.retrainer = retrainer
        # every forward pass on one thread: one at a time, and torch's allocations stay in one malloc
        # arena (spread over a pool of threads, 50 concurrent calls left the process 1.4 GB larger)
        self._predictor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="civic-ner-predict")

    def swap(self, served: Served) -> None:
        """Serve ``served`` from the next request on (requests under way finish with the old model)."""
        old, self.served = self.served.version, served
        log.info("serving model_version %s (was %s) from %s", served.version, old, served.model_dir)

    async def predict(self, tasks: list, config: LabelConfig) -> tuple[list[dict[str, Any]], str]:
        """Predictions of one request on the predict thread; requests wait their turn there."""
        served = self.served  # one model for the whole request, even if a swap happens meanwhile
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._predictor, predict_tasks, served, tasks, config, self.limits)
        return results, served.version

    def health(self) -> dict[str, Any]:
        served = self.served
        training = self.retrainer.status() if self.retrainer is not None else {"state": "off"}
        return {"status": "UP", "model_class": "civic-ner", "model_version": served.version,
                "model_dir": str(served.model_dir) if served.model_dir else None, "training": training}


def _json(payload: Any, status: int = 200):
    from starlette.responses import JSONResponse

    return JSONResponse(payload, status_code=status)


async def _body(request, backend: Backend) -> tuple[dict | None, Any]:
    """(JSON object of the request, None) or (None, the error response)."""
    try:
        data = await read_json(request, backend.limits.max_body_bytes)
    except RequestTooLarge as exc:
        return None, _json({"error": str(exc)}, 413)
    except ValueError as exc:
        return None, _json({"error": str(exc)}, 400)
    if not isinstance(data, dict):
        return None, _json({"error": "the request body must be a JSON object"}, 400)
    return data, None


def create_app(backend: Backend, credentials: tuple[str, str] | None = None):
    """The ASGI application (Starlette) of a :class:`Backend`: the four routes of the protocol."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    async def health(request):
        return _json(backend.health())

    async def setup(request):
        data, error = await _body(request, backend)
        if error is not None:
            return error
        try:
            read_label_config(data.get("schema"))
        except ServeError as exc:
            return _json({"error": str(exc)}, 400)
        return _json({"model_version": backend.served.version})

    async def predict(request):
        data, error = await _body(request, backend)
        if error is not None:
            return error
        tasks = data.get("tasks")
        if not isinstance(tasks, list):
            return _json({"error": "the request has no 'tasks' list"}, 400)
        if len(tasks) > backend.limits.max_tasks:
            return _json({"error": f"{len(tasks)} tasks in one request; this server takes at most "
                                   f"{backend.limits.max_tasks}"}, 413)
        try:
            config = read_label_config(data.get("label_config"))
        except ServeError as exc:
            return _json({"error": str(exc)}, 400)
        results, version = await backend.predict(tasks, config)
        return _json({"results": results, "model_version": version})

    async def webhook(request):
        data, error = await _body(request, backend)
        if error is not None:
            return error
        return _json(*webhook_answer(backend, data))

    app = Starlette(routes=[
        Route("/", health, methods=["GET"]), Route("/health", health, methods=["GET"]),
        Route("/setup", setup, methods=["POST"]), Route("/predict", predict, methods=["POST"]),
        Route("/webhook", webhook, methods=["POST"]),
    ])
    return Guard(app, credentials)


def webhook_answer(backend: Backend, data: dict) -> tuple[dict[str, Any], int]:
    """(answer, HTTP status) to a Label Studio event: annotation events and the training button
    schedule a retrain; anything else is acknowledged."""
    action = data.get("action")
    if action not in TRAIN_ACTIONS:
        return {"status": "ignored", "action": action}, 200
    if backend.retrainer is None:
        return {"status": "retraining is off (started with --no-retrain)", "action": action}, 200
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    if not isinstance(project.get("title"), str) or not project.get("title"):
        return {"error": "the event names no project (Label Studio sends project.title with the payload)"}, 400
    state = backend.retrainer.schedule(action, project["title"], project.get("id"), force=action == "START_TRAINING")
    log.info("%s from project %r: retrain %s", action, project["title"], state)
    return {"status": state, "action": action}, 201


class Guard:
    """ASGI wrapper: basic auth on every route, and any unexpected error one JSON 500, never a dead server."""

    def __init__(self, app, credentials: tuple[str, str] | None) -> None:
        self.app, self.credentials = app, credentials

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if not authorized(headers.get("authorization"), self.credentials):
            response = _json({"error": "authentication required"}, 401)
            response.headers["WWW-Authenticate"] = 'Basic realm="civic-ner"'
            await response(scope, receive, send)
            return
        started = False

        async def tracked(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:  # noqa: BLE001 - log it, answer it, keep serving
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if not started:
                await _json({"error": f"internal error ({type(exc).__name__})"}, 500)(scope, receive, send)


def on_promoted(backend: Backend, loader: Callable[[Path], Served] = load_served) -> Callable[[Path], str]:
    """The retrainer's callback: load the promoted model directory, swap it in, return its version."""

    def swap(model_dir: Path) -> str:
        served = loader(model_dir)
        backend.swap(served)
        return served.version

    return swap
