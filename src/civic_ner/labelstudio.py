"""The Label Studio round trip: push new sections with model pre-annotations, pull finished annotations.

Server I/O goes through ``label-studio-sdk`` 2.x (``label_studio_sdk.LabelStudio``). The server address
and key come from ``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` only (never from the command
line, so keys stay out of shell history). Every server or network failure becomes one
:class:`LabelStudioError` line; ``pull`` validates the whole export before it writes anything.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import corpus, labelstudio_tasks
from .corpus import AnnotationError, Record
from .model_dir import model_version
from .errors import CivicNerError

URL_ENV = "LABEL_STUDIO_URL"
KEY_ENV = "LABEL_STUDIO_API_KEY"
DEFAULT_LABEL_CONFIG = Path("annotations/label_config.xml")


class LabelStudioError(CivicNerError, RuntimeError):
    """The server cannot be reached, refuses the key, or answers something unusable."""


# ---------------------------------------------------------------- connection


def connect(url: str | None = None, api_key: str | None = None, timeout: float = 30.0):
    """A ``LabelStudio`` client for ``$LABEL_STUDIO_URL`` with ``$LABEL_STUDIO_API_KEY``."""
    url = url if url is not None else os.environ.get(URL_ENV, "")
    api_key = api_key if api_key is not None else os.environ.get(KEY_ENV, "")
    missing = [name for name, value in ((URL_ENV, url), (KEY_ENV, api_key)) if not value]
    if missing:
        raise LabelStudioError(f"set {' and '.join(missing)} (the Label Studio address and your access token)")
    try:
        from label_studio_sdk import LabelStudio
        from label_studio_sdk.core.api_error import ApiError
    except ImportError as exc:  # pragma: no cover - the SDK is a core dependency
        raise LabelStudioError(f"label-studio-sdk is not installed ({exc})") from None
    try:
        client = LabelStudio(base_url=url.rstrip("/"), api_key=api_key, timeout=timeout, max_retries=0)
    except ApiError as exc:  # a JWT-shaped key that has expired is refused right here
        raise LabelStudioError(f"Label Studio at {url}: {_describe(exc, url)}") from None
    client._civic_ner_url = url  # for error messages
    return client


def _describe(exc: BaseException, url: str) -> str:
    from label_studio_sdk.core.api_error import ApiError

    if isinstance(exc, ApiError):
        detail = exc.body
        if isinstance(detail, dict):
            detail = detail.get("detail") or detail.get("message") or json.dumps(detail, ensure_ascii=False)
        detail = re.sub(r"\s+", " ", str(detail))[:300]
        if exc.status_code in (401, 403):
            return (
                f"the server refused the API key (HTTP {exc.status_code}: {detail}); check {KEY_ENV}. "
                "Label Studio >= 1.23 accepts legacy tokens only when started with "
                "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true; otherwise use a personal access token"
            )
        return f"HTTP {exc.status_code}: {detail}"
    return f"{type(exc).__name__}: {exc}"


def call(client, what: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Run one SDK call; network and HTTP failures become a one-line :class:`LabelStudioError`."""
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    url = getattr(client, "_civic_ner_url", "the server")
    try:
        return fn(*args, **kwargs)
    except httpx.TransportError as exc:
        raise LabelStudioError(
            f"cannot reach Label Studio at {url} while trying to {what} ({type(exc).__name__}: {exc}); "
            f"is the server running and {URL_ENV} right?"
        ) from None
    except ApiError as exc:
        raise LabelStudioError(f"Label Studio at {url} could not {what}: {_describe(exc, url)}") from None
    except ValueError as exc:  # a non-JSON answer (e.g. an HTML login page from a proxy)
        raise LabelStudioError(f"Label Studio at {url} gave an unusable answer while trying to {what}: {exc}") from None


# ---------------------------------------------------------------- projects


def _normalise_xml(xml: str) -> str:
    return re.sub(r">\s+<", "><", xml.strip())


def find_project(client, title: str):
    """The project titled exactly ``title``, or None."""
    projects = call(client, "list projects", lambda: list(client.projects.list(title=title)))
    matches = [p for p in projects if p.title == title]
    if len(matches) > 1:
        ids = ", ".join(str(p.id) for p in matches)
        raise LabelStudioError(f"several Label Studio projects are titled {title!r} (ids {ids}); rename all but one")
    return matches[0] if matches else None


def find_or_create_project(client, title: str, label_config: str) -> tuple[Any, bool]:
    """(project, created). An existing project must label the same way as ``label_config``."""
    project = find_project(client, title)
    if project is not None:
        full = call(client, f"read project {title!r}", client.projects.get, id=project.id)
        if full.label_config and _normalise_xml(full.label_config) != _normalise_xml(label_config):
            raise LabelStudioError(
                f"project {title!r} (id {project.id}) has a different labeling config from the one in this "
                "repository; update one of them so that they match"
            )
        return project, False
    project = call(
        client,
        f"create project {title!r}",
        client.projects.create,
        title=title,
        label_config=label_config,
        description="civic-ner: label ORG, PROGRAM, MONEY, COUNT (pre-annotated by the current model)",
        show_skip_button=True,
    )
    return project, True


def export_tasks(client, project_id: int, all_tasks: bool = True) -> list[dict[str, Any]]:
    """The project's tasks in Label Studio's JSON export format (with annotations and predictions)."""

    def download() -> bytes:
        return b"".join(
            client.projects.exports.download_sync(project_id, export_type="JSON", download_all_tasks=all_tasks)
        )

    payload = call(client, f"export project {project_id}", download)
    try:
        tasks = json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise LabelStudioError(f"the export of project {project_id} is not JSON ({exc})") from None
    if not isinstance(tasks, list):
        raise LabelStudioError(f"the export of project {project_id} is not a list of tasks")
    return tasks


# ---------------------------------------------------------------- push


@dataclass
class PushSummary:
    project_id: int
    project_created: bool
    imported: list[str] = field(default_factory=list)
    already_there: list[str] = field(default_factory=list)
    model_version: str | None = None
    predicted_spans: int = 0


def push(
    client,
    title: str,
    records: Sequence[Record],
    model_dir: str | Path | None = None,
    label_config: str | Path = DEFAULT_LABEL_CONFIG,
    tagger=None,
) -> PushSummary:
    """Import sections as tasks (pre-annotated when a model is given); sections already in the project are left alone."""
    if not records:
        raise LabelStudioError("no sections to push")
    ids = [r.id for r in records]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise LabelStudioError(f"section ids occur twice among the inputs: {', '.join(dupes[:5])}")
    config_text = Path(label_config).read_text(encoding="utf-8")
    version = None
    if model_dir is not None or tagger is not None:
        if tagger is None:
            from .prediction import Tagger

            tagger = Tagger.from_dir(model_dir)
        version = model_version(model_dir) if model_dir is not None else "civic-ner-in-memory"
    # everything local is checked before the server is touched
    project, created = find_or_create_project(client, title, config_text)
    summary = PushSummary(project.id, created, model_version=version)
    present = set()
    if not created:
        for task in export_tasks(client, project.id, all_tasks=True):
            sid = (task.get("data") or {}).get("section_id")
            if sid:
                present.add(str(sid))
    fresh = [r for r in records if r.id not in present]
    summary.already_there = [r.id for r in records if r.id in present]
    if not fresh:
        return summary
    predictions: list[dict[str, Any] | None] = [None] * len(fresh)
    if tagger is not None:
        entities = tagger.predict([r.text for r in fresh])
        predictions = [labelstudio_tasks.prediction(r.text, ents, version or "") for r, ents in zip(fresh, entities)]
        summary.predicted_spans = sum(len(p["result"]) for p in predictions if p)
    tasks = [labelstudio_tasks.section_task(r, p) for r, p in zip(fresh, predictions)]
    call(client, f"import {len(tasks)} tasks into project {title!r}", client.projects.import_tasks,
         id=project.id, request=tasks, return_task_ids=True)
    summary.imported = [r.id for r in fresh]
    return summary


# ---------------------------------------------------------------- pull


@dataclass
class PullSummary:
    project_id: int
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # every annotation cancelled ("skip" in the UI)
    unannotated: list[str] = field(default_factory=list)  # no annotation yet
    no_spans: list[str] = field(default_factory=list)  # submitted with no entity (imported: a valid negative)
    by_split: dict[str, list[Record]] | None = None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.replaced)


def _task_label(task: dict[str, Any]) -> str:
    data = task.get("data") or {}
    sid = data.get("section_id")
    return f"task id={task.get('id')}" + (f" (section {sid})" if sid else "")


def split_export(tasks: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(completed tasks, skipped task labels, unannotated task labels)."""
    completed, skipped, unannotated = [], [], []
    for task in tasks:
        if not isinstance(task, dict):
            completed.append(task)  # let the validator name the problem
            continue
        annotations = task.get("annotations") or []
        if not annotations:
            unannotated.append(_task_label(task))
        elif all(a.get("was_cancelled") for a in annotations):
            skipped.append(_task_label(task))
        else:
            completed.append(task)
    return completed, skipped, unannotated


def merge_export(
    tasks: list[dict[str, Any]], existing: list[Record], where: str
) -> tuple[list[Record], PullSummary]:
    """Validate an export and merge it into ``existing``; raise :class:`AnnotationError` naming tasks."""
    completed, skipped, unannotated = split_export(tasks)
    # drop the export's bookkeeping fields from data so tasks.json stays clean
    cleaned = []
    for task in completed:
        if isinstance(task, dict) and isinstance(task.get("data"), dict):
            task = {**task, "data": {k: v for k, v in task["data"].items() if not k.startswith("$")}}
        cleaned.append(task)
    incoming = corpus.tasks_to_records(cleaned, where)
    summary = PullSummary(project_id=-1, skipped=skipped, unannotated=unannotated)
    merged = {r.id: r for r in existing}
    for record in incoming:
        if not record.spans:
            summary.no_spans.append(record.id)
        old = merged.get(record.id)
        if old is None:
            summary.added.append(record.id)
        elif old.to_json() == record.to_json():
            summary.unchanged.append(record.id)
        else:
            summary.replaced.append(record.id)
        merged[record.id] = record
    return list(merged.values()), summary


def parse_shares(items: Sequence[str] | None) -> dict[str, float]:
    shares: dict[str, float] = {}
    for item in items or []:
        split, _, value = item.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if split not in ("dev", "test") or not 0.0 <= share <= 1.0:
            raise AnnotationError(f"--new-share takes dev=0.1 or test=0.2 (a share between 0 and 1), not {item!r}")
        shares[split] = share
    if sum(shares.values()) > 1.0:
        raise AnnotationError("--new-share: the shares add up to more than 1")
    return shares


def pull(
    client,
    title: str,
    annotations: str | Path = "annotations/tasks.json",
    data_dir: str | Path = "data",
    splits_path: str | Path | None = None,
    new_to: str = "train",
    new_share: dict[str, float] | None = None,
    rebuild: bool = True,
) -> PullSummary:
    """Export finished annotations, merge them into ``annotations``, rebuild ``data_dir``.

    Nothing local is written unless the whole export and the existing annotations validate.
    """
    annotations = Path(annotations)
    existing = corpus.load_annotations(annotations) if annotations.exists() else []
    project = find_project(client, title)
    if project is None:
        raise LabelStudioError(f"no Label Studio project titled {title!r} (push to it first)")
    tasks = export_tasks(client, project.id, all_tasks=True)
    merged, summary = merge_export(tasks, existing, f"Label Studio project {title!r} (id {project.id})")
    summary.project_id = project.id
    if summary.changed:
        corpus.save_tasks(annotations, merged)
    if rebuild and (summary.changed or not (Path(data_dir) / "train.jsonl").exists()):
        summary.by_split = corpus.build_dataset(annotations, data_dir, splits_path, new_to=new_to, new_share=new_share,
                                                synthetic=corpus.synthetic_beside(annotations))
    return summary
