#!/usr/bin/env python3
"""Render an HTML page (e.g. from `civic-ner predict --format html`) to a PNG with headless Chromium.

    python scripts/screenshot_html.py predictions.html -o predictions.png [--width 1200 --height 1600]

Needs Debian's `chromium` (apt-get install -y chromium) or Google Chrome on PATH. The page is loaded
from a file:// URL with networking features off, so the screenshot also shows that the page needs
no external assets.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(page: Path, png: Path, width: int = 1200, height: int = 1600, timeout: float = 60) -> None:
    browser = find_browser()
    if browser is None:
        raise RuntimeError("no chromium/chrome on PATH (apt-get install -y chromium)")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="civic-ner-chromium-") as profile:
        cmd = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--screenshot={png.resolve()}",
            f"--window-size={width},{height}", page.resolve().as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0 or not png.exists() or png.stat().st_size == 0:
        raise RuntimeError(f"{browser} failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=None, help="default: PAGE with .png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1600)
    args = parser.parse_args(argv)
    if not args.page.is_file():
        print(f"screenshot_html: error: {args.page}: no such file", file=sys.stderr)
        return 2
    png = args.output or args.page.with_suffix(".png")
    try:
        screenshot(args.page, png, args.width, args.height)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"screenshot_html: error: {exc}", file=sys.stderr)
        return 1
    print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
