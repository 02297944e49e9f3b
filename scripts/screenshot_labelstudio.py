#!/usr/bin/env python3
"""Screenshot a Label Studio task with the ML backend's pre-annotation, in headless Chromium.

    LABEL_STUDIO_URL=... LABEL_STUDIO_API_KEY=... LABEL_STUDIO_USERNAME=... LABEL_STUDIO_PASSWORD=... \\
    python scripts/screenshot_labelstudio.py --project civic-ner -o docs/labelstudio_preannotations.png

Needs a project connected to a running ``civic-ner serve`` (``civic-ner ls connect``). Picks the
project's first unlabelled task that has a prediction of the project's current ``model_version``
(or ``--task``), logs in through Label Studio's login form (the username must be a valid e-mail
address: the form refuses ``a@b.c``) and opens the task as an annotator sees it.
Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``), so nothing
beyond the browser is needed (Debian's ``chromium``, as for scripts/screenshot_html.py).
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot_html import find_browser  # noqa: E402


class DevTools:
    """The DevTools protocol over Chromium's pipe: fd 3 carries commands in, fd 4 answers out."""

    def __init__(self, browser: str, profile: str, width: int, height: int) -> None:
        to_child, self._writer = os.pipe()
        self._reader, from_child = os.pipe()
        high_in, high_out = (fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child))

        def wire() -> None:
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self.process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in (to_child, from_child, high_in, high_out):
            os.close(fd)
        self._buffer = b""
        self._next = 0
        self.session: str | None = None

    def call(self, method: str, params: dict | None = None, session: bool = True, timeout: float = 60) -> dict:
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._writer, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            while b"\0" not in self._buffer:
                chunk = os.read(self._reader, 1 << 20)
                if not chunk:
                    raise RuntimeError("chromium closed the DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        self.call("Page.enable")
        self.goto(url)

    def goto(self, url: str) -> None:
        self.call("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete'", 60)

    def evaluate(self, expression: str):
        return self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True}).get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.evaluate(expression):
                    return True
            except RuntimeError:  # the page is navigating: its context is gone for a moment
                pass
            time.sleep(0.5)
        return False

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def pick_task(project_title: str, task_id: int | None) -> tuple[int, int, str]:
    """(project id, task id, its text) of the task to show."""
    from civic_ner import labelstudio

    client = labelstudio.connect()
    project = labelstudio.find_project(client, project_title)
    if project is None:
        raise SystemExit(f"no project titled {project_title!r}")
    version = client.projects.get(id=project.id).model_version
    for task in client.tasks.list(project=project.id):
        if task_id is not None and task.id != task_id:
            continue
        predictions = client.predictions.list(task=task.id)
        if task_id is not None or (not task.total_annotations and any(p.model_version == version and p.result for p in predictions)):
            return project.id, task.id, task.data["text"]
    raise SystemExit("no unlabelled task with a prediction of the current model_version (run civic-ner ls connect)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", required=True)
    parser.add_argument("--task", type=int, default=None)
    parser.add_argument("-o", "--output", type=Path, default=Path("docs/labelstudio_preannotations.png"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args(argv)
    url = os.environ["LABEL_STUDIO_URL"].rstrip("/")
    user, password = os.environ["LABEL_STUDIO_USERNAME"], os.environ["LABEL_STUDIO_PASSWORD"]
    browser = find_browser()
    if browser is None:
        raise SystemExit("no chromium/chrome on PATH (apt-get install -y chromium)")
    project_id, task_id, text = pick_task(args.project, args.task)
    with tempfile.TemporaryDirectory(prefix="civic-ner-chromium-") as profile:
        tools = DevTools(browser, profile, args.width, args.height)
        try:
            tools.open(f"{url}/user/login/")
            tools.evaluate(f"""document.querySelector('input[name=email]').value = {json.dumps(user)};
                document.querySelector('input[name=password]').value = {json.dumps(password)};
                document.querySelector('form').submit();""")
            if not tools.wait_for("!location.pathname.startsWith('/user/login')", 90):
                raise SystemExit("Label Studio did not accept LABEL_STUDIO_USERNAME/LABEL_STUDIO_PASSWORD")
            tools.goto(f"{url}/projects/{project_id}/data?task={task_id}")
            snippet = json.dumps(text.strip()[:8])
            if not tools.wait_for(f"document.body.innerText.includes({snippet}) && !!document.querySelector('[class*=htx-highlight]')", 90):
                print("warning: the pre-annotated regions did not appear within 90 s; saving what is shown", file=sys.stderr)
            time.sleep(2)
            png = base64.b64decode(tools.call("Page.captureScreenshot", {"format": "png"})["data"])
        finally:
            tools.close()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_bytes(png)
    print(f"wrote {args.output} (project {project_id}, task {task_id}, {len(png) // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
