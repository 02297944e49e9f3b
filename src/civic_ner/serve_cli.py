"""``civic-ner serve`` and ``civic-ner ls connect``: the model inside Label Studio, on the command line.

Everything is checked before the port is bound (model, config, address, credentials, Label Studio
settings), each failure one ``civic-ner: error: ...`` line (:func:`civic_ner.cli_common.run`).
"""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
from pathlib import Path

from .cli_common import add_precision_arg, fail


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _port_free(host: str, port: int) -> str | None:
    """None when ``host:port`` can be bound, else why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _retrainer(args: argparse.Namespace, backend):
    """The retrainer of ``serve`` (None with --no-retrain), after checking what retraining needs."""
    from .config import load_config
    from .labelstudio import KEY_ENV, URL_ENV
    from functools import partial

    from .serve import ServeError, load_served, on_promoted
    from .serve_worker import Retrainer, default_steps

    if args.no_retrain:
        return None
    model = Path(args.model)
    if model.resolve().name != "model":
        raise ServeError(f"--model {model}: retraining promotes into a run folder (RUN/model), so serve a run's "
                         "model folder, or pass --no-retrain")
    load_config(args.config)  # a bad config fails now, not at the first annotation
    missing = [name for name in (URL_ENV, KEY_ENV) if not os.environ.get(name)]
    if missing:
        raise ServeError(f"retraining pulls annotations from Label Studio: set {' and '.join(missing)}, or pass --no-retrain")
    steps = default_steps(Path(args.config), model.resolve().parent, Path(args.annotations),
                          on_promoted(backend, partial(load_served, precision=args.precision)))
    return Retrainer(steps, version=lambda: backend.served.version)


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import Backend, Limits, create_app, credentials_from_env, load_served

    credentials = credentials_from_env(dict(os.environ))
    if not is_loopback(args.host) and credentials is None:
        return fail(f"--host {args.host} exposes the model beyond this machine: set CIVIC_NER_BACKEND_USER and "
                    "CIVIC_NER_BACKEND_PASSWORD (basic auth; give Label Studio the same pair)")
    if min(args.max_tasks, args.max_request_mb, args.max_chars) <= 0:
        return fail("--max-tasks, --max-request-mb and --max-chars must be positive")
    try:
        import uvicorn
    except ImportError:
        return fail("civic-ner serve needs starlette and uvicorn: pip install 'civic-ner[serve]'")
    busy = _port_free(args.host, args.port)
    if busy:
        return fail(f"cannot listen on {args.host}:{args.port} ({busy})")
    backend = Backend(load_served(args.model, args.precision), Limits(int(args.max_request_mb * 1024 * 1024), args.max_tasks, args.max_chars))
    backend.retrainer = _retrainer(args, backend)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("civic_ner.serve").info(
        "serving model_version %s from %s on http://%s:%d (retraining %s, basic auth %s)", backend.served.version,
        args.model, args.host, args.port, "off" if backend.retrainer is None else f"on, config {args.config}",
        "on" if credentials else "off")
    uvicorn.run(create_app(backend, credentials), host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


def cmd_ls_connect(args: argparse.Namespace) -> int:
    from . import labelstudio
    from .labelstudio_backend import SAMPLING, connect_backend

    client = labelstudio.connect()
    summary = connect_backend(client, args.project, args.url, predict_all=not args.no_predict)
    what = "added" if summary.created else "updated"
    print(f"project {args.project!r} (id {summary.project_id}): ML backend {args.url} {what} (id {summary.backend_id}), "
          f"model_version {summary.model_version}, interactive pre-annotations on")
    print(f"sampling: {SAMPLING} (lowest prediction score first); annotation events -> {summary.webhook}")
    if not args.no_predict:
        print(f"predicted {summary.predicted_tasks} unlabelled task(s) so that they can be ordered by score")
    return 0


def add_serve_command(sub) -> None:
    p = sub.add_parser("serve", help="Label Studio ML backend: live pre-annotations, retraining on annotation events")
    p.add_argument("--model", required=True, help="model directory to serve (a run's model/ folder to retrain into)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s; others need basic auth)")
    p.add_argument("--port", type=int, default=9090)
    p.add_argument("--config", default="configs/default.yaml", help="training config of the retrains")
    p.add_argument("--annotations", default="annotations/tasks.json", help="where submitted annotations are merged")
    p.add_argument("--no-retrain", action="store_true", help="serve predictions only; annotation events are ignored")
    p.add_argument("--max-tasks", type=int, default=100, help="tasks per /predict request (default: %(default)s)")
    p.add_argument("--max-request-mb", type=float, default=8.0, help="request body limit (default: %(default)s MB)")
    p.add_argument("--max-chars", type=int, default=100_000, help="characters of one task's text (default: %(default)s)")
    add_precision_arg(p)
    p.set_defaults(func=cmd_serve)


def add_connect_command(actions) -> None:
    p = actions.add_parser("connect", help="register a running `civic-ner serve` with a project")
    p.add_argument("--project", required=True, help="project title")
    p.add_argument("--url", default="http://127.0.0.1:9090", help="the backend as Label Studio reaches it")
    p.add_argument("--no-predict", action="store_true", help="do not predict every unlabelled task now")
    p.set_defaults(func=cmd_ls_connect)
