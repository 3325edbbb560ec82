"""Open a report in a real headless Chromium (Chrome DevTools Protocol) to check or shoot it.

    python -m distillctl.report.browser check REPORT.html
    python -m distillctl.report.browser shot REPORT.html OUT.png     (make report-shot)

`check` loads the page and reports console errors, uncaught exceptions, and images whose
natural size is zero (a broken data: URI); it exits 1 if there are any.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from distillctl.errors import RunError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")
IMAGES_JS = (
    "JSON.stringify(Array.from(document.images).map("
    "i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]))"
)


def find_browser() -> str:
    for name in (os.environ.get("DISTILLCTL_BROWSER"), *BROWSERS):
        if name and shutil.which(name):
            return shutil.which(name)
    raise RunError(
        "no Chromium found to open the report in (looked for " + ", ".join(BROWSERS) + ")",
        "install it (Debian: apt-get install chromium) or set DISTILLCTL_BROWSER to its path",
    )


class Page:
    """One tab over the DevTools websocket: send commands, collect events."""

    def __init__(self, ws_url: str):
        import websocket

        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RunError(f"Chromium: {method} failed: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60.0) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e.get("method") == event for e in self.events):
                return
            self.events.append(json.loads(self.ws.recv()))
        raise RunError(f"Chromium: no {event} within {timeout:.0f} s")

    def errors(self) -> list[str]:
        found = []
        for e in self.events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(
                    " ".join(str(a.get("value", a.get("description"))) for a in params["args"])
                )
            elif method == "Runtime.exceptionThrown":
                found.append(params["exceptionDetails"].get("text", "exception"))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", "error"))
        return found


@contextmanager
def open_page(report: Path, width: int = 1280, height: int = 900):
    """Chromium headless with the report loaded; yields the Page."""
    report = Path(report).resolve()
    if not report.exists():
        raise RunError(f"report not found: {report}", "run `distillctl explain` or `run` first")
    profile = tempfile.mkdtemp(prefix="distillctl-chromium-")
    proc = subprocess.Popen(
        [
            find_browser(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _devtools_port(proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            tabs = [t for t in json.load(r) if t.get("type") == "page"]
        page = Page(tabs[0]["webSocketDebuggerUrl"])
        for domain in ("Page", "Runtime", "Log"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=report.as_uri())
        page.wait_for("Page.loadEventFired")
        yield page
        page.ws.close()
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _devtools_port(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if match:
            return int(match.group(1))
    raise RunError("Chromium did not start: " + "".join(lines[-5:]).strip(), "check the install")


# a text's tokens drawn with their attributions (report/tokens.py) that the page lays out
TOKENS_JS = (
    "Array.from(document.querySelectorAll('span.tok'))"
    ".filter(s => s.getBoundingClientRect().width > 0).length"
)


def check(report: Path) -> dict[str, Any]:
    """Console errors, images and laid-out text tokens of the loaded report."""
    with open_page(report) as page:
        value = page.call("Runtime.evaluate", expression=IMAGES_JS, returnByValue=True)
        images = json.loads(value["result"]["value"])
        title = page.call("Runtime.evaluate", expression="document.title", returnByValue=True)
        tokens = page.call("Runtime.evaluate", expression=TOKENS_JS, returnByValue=True)
        return {
            "errors": page.errors(),
            "images": images,
            "title": title["result"]["value"],
            "tokens": int(tokens["result"]["value"]),
        }


def screenshot(report: Path, out: Path) -> Path:
    with open_page(report) as page:
        height = page.call(
            "Runtime.evaluate",
            expression="document.documentElement.scrollHeight",
            returnByValue=True,
        )["result"]["value"]
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=int(height),
            deviceScaleFactor=1,
            mobile=False,
        )
        data = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(base64.b64decode(data["data"]))
    return out


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "check":
        result = check(Path(argv[1]))
        broken = [i for i in result["images"] if not (i[1] and i[2] > 0 and i[3] > 0)]
        print(
            f"{len(result['images'])} images, {len(broken)} broken, {len(result['errors'])} errors"
        )
        for line in result["errors"]:
            print(f"console error: {line}")
        return 1 if broken or result["errors"] else 0
    if len(argv) == 3 and argv[0] == "shot":
        print(screenshot(Path(argv[1]), Path(argv[2])))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
