"""``civic-ner ls connect``: register a running ``civic-ner serve`` with a Label Studio project.

What Label Studio 1.23 (Community) allows, and what is set here:

* **Live pre-annotations**: an ML backend with ``is_interactive`` on, and the project's ``model_version``
  set to the backend's title, so that Label Studio asks the backend for a prediction whenever a task is
  opened without one from the current version (``Task.get_predictions_for_prelabeling``).
* **Ordering by uncertainty**: the project's sampling set to "Uncertainty sampling" (the "Label All Tasks"
  queue takes the unlabelled task with the lowest prediction score first) and the Data Manager's
  "Prediction score" column both read only predictions whose ``model_version`` equals the project's
  ``model_version``. So the backend's title *is* the served ``model_version``, the project follows it
  (Label Studio renames the project's version with the backend's title), and every task is predicted
  once here; after a promotion :func:`follow_version` renames and predicts again. Tasks without a
  current prediction fall back to random order; "Label tasks as displayed" follows the Data Manager's sort.
* **Annotations reach the backend**: Label Studio adds a ``<url>/webhook`` webhook for every event when an ML
  backend is created; it is checked (created if missing) and, with basic auth, given the credentials.

Local backends: Label Studio 1.23 blocks ML backends and webhooks on local addresses unless started with
``ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false``; a refusal says so.
"""
from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from . import labelstudio
from .errors import CivicNerError
from .labelstudio import LabelStudioError, call
from .serve import credentials_from_env

SAMPLING = "Uncertainty sampling"
PREDICT_CHUNK = 50
"""Tasks per "retrieve predictions" call: Label Studio sends them to /predict in one request."""


class BackendError(CivicNerError, RuntimeError):
    """The backend URL does not answer like ``civic-ner serve``."""


@dataclass
class ConnectSummary:
    project_id: int
    backend_id: int
    created: bool
    model_version: str
    webhook: str
    predicted_tasks: int


def _auth_header(credentials: tuple[str, str] | None) -> dict[str, str]:
    if credentials is None:
        return {}
    token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def backend_health(url: str, credentials: tuple[str, str] | None, timeout: float = 10.0) -> dict[str, Any]:
    """GET <url>/health of a civic-ner backend, or one :class:`BackendError` line."""
    request = urllib.request.Request(f"{url.rstrip('/')}/health", headers=_auth_header(credentials))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            health = json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        raise BackendError(f"the backend at {url} answered HTTP {exc.code} on /health"
                           + (" (set CIVIC_NER_BACKEND_USER/PASSWORD as for serve)" if exc.code == 401 else "")) from None
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot reach a civic-ner backend at {url} ({exc}); is `civic-ner serve` running?") from None
    if not isinstance(health, dict) or health.get("model_class") != "civic-ner" or not health.get("model_version"):
        raise BackendError(f"{url} answers /health, but not as a civic-ner backend")
    return health


def _local_hint(exc: LabelStudioError) -> LabelStudioError:
    return LabelStudioError(f"{exc}; a backend on this machine needs Label Studio started with "
                            "ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false")


def register(client, project_id: int, url: str, version: str, credentials: tuple[str, str] | None) -> tuple[int, bool]:
    """(ML backend id, created): the project's backend at ``url``, titled ``version``, interactive."""
    settings: dict[str, Any] = {"url": url, "title": version, "is_interactive": True, "auto_update": True,
                                "description": "civic-ner serve: ORG, PROGRAM, MONEY, COUNT and their relations"}
    if credentials is not None:
        settings.update(auth_method="BASIC_AUTH", basic_auth_user=credentials[0], basic_auth_pass=credentials[1])
    backends = call(client, "list ML backends", client.ml.list, project=project_id)
    mine = [b for b in backends if (b.url or "").rstrip("/") == url]
    try:
        if mine:
            call(client, f"update ML backend {mine[0].id}", client.ml.update, id=mine[0].id, project=project_id, **settings)
            return mine[0].id, False
        backend = call(client, f"add the ML backend {url}", client.ml.create, project=project_id, **settings)
    except LabelStudioError as exc:
        raise _local_hint(exc) from None
    return backend.id, True


def ensure_webhook(client, project_id: int, url: str, credentials: tuple[str, str] | None) -> str:
    """The project's webhook to ``<url>/webhook`` for every event, with the payload (and the auth header)."""
    target = f"{url}/webhook"
    hooks = call(client, "list webhooks", client.webhooks.list, project=str(project_id))
    mine = [h for h in hooks if (h.url or "").rstrip("/") == target and getattr(h, "project", project_id) == project_id]
    settings = {"url": target, "send_payload": True, "send_for_all_actions": True, "headers": _auth_header(credentials)}
    try:
        if mine:
            call(client, f"update webhook {mine[0].id}", client.webhooks.update, id=mine[0].id, **settings)
        else:
            call(client, f"add webhook {target}", client.webhooks.create, project=project_id, **settings)
    except LabelStudioError as exc:
        raise _local_hint(exc) from None
    return target


def unlabelled_task_ids(client, project_id: int) -> list[int]:
    tasks = call(client, f"list the tasks of project {project_id}", lambda: list(client.tasks.list(project=project_id)))
    return [t.id for t in tasks if not (getattr(t, "total_annotations", 0) or getattr(t, "is_labeled", False))]


def retrieve_predictions(client, project_id: int, chunk: int = PREDICT_CHUNK) -> int:
    """Have Label Studio ask the backend for every unlabelled task's prediction (the Data Manager's
    "Retrieve Predictions" action, ``chunk`` tasks a call); tasks it already has from this version are skipped."""
    ids = unlabelled_task_ids(client, project_id)
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        call(client, f"retrieve predictions for {len(part)} tasks", client.actions.create, id="retrieve_tasks_predictions",
             project=project_id, selected_items={"all": False, "included": part})
    return len(ids)


def follow_version(client, project_id: int, old: str, new: str) -> int:
    """After a promotion: the backend titled ``old`` is renamed ``new`` (Label Studio moves the project's
    ``model_version`` along), then the unlabelled tasks are predicted by the new model for ordering."""
    for backend in call(client, "list ML backends", client.ml.list, project=project_id):
        if backend.title == old:
            call(client, f"rename ML backend {backend.id}", client.ml.update, id=backend.id, project=project_id,
                 url=backend.url, title=new)
    call(client, f"set project {project_id}'s model_version", client.projects.update, id=project_id, model_version=new)
    return retrieve_predictions(client, project_id)


def connect_backend(client, project_title: str, url: str, predict_all: bool = True) -> ConnectSummary:
    """Register the backend at ``url`` with the project titled ``project_title``: interactive
    pre-annotations, Uncertainty sampling, the webhook, and (``predict_all``) a prediction per task."""
    url = url.rstrip("/")
    credentials = credentials_from_env(dict(os.environ))
    health = backend_health(url, credentials)
    version = str(health["model_version"])
    project = labelstudio.find_project(client, project_title)
    if project is None:
        raise LabelStudioError(f"no Label Studio project titled {project_title!r} (create it with `civic-ner ls push`)")
    backend_id, created = register(client, project.id, url, version, credentials)
    call(client, f"set up project {project_title!r}", client.projects.update, id=project.id,
         show_collab_predictions=True, model_version=version, sampling=SAMPLING)
    webhook = ensure_webhook(client, project.id, url, credentials)
    predicted = retrieve_predictions(client, project.id) if predict_all else 0
    return ConnectSummary(project.id, backend_id, created, version, webhook, predicted)
