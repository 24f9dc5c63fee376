"""A real headless Chromium driven over the DevTools protocol, for tests of the HTML plan.

`open_page(path)` starts Debian's `chromium` with its own profile, loads the file, and returns what
a person would care about: console errors and exceptions, every network request the page made
(anything but the file itself and data: URLs counts), facts measured in the DOM, and a screenshot.
The websocket client is `websocket-client` (a test extra); the browser listens on 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium")


@dataclass
class PageRun:
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)   # every URL the page asked for
    facts: dict[str, Any] = field(default_factory=dict)


class _Cdp:
    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=30, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(json.loads(self.ws.recv()))


def open_page(page: Path, screenshot: Path, *, width: int = 1280, height: int = 800,
              measure: str = "({})") -> PageRun:
    """Load `page`, collect errors and requests, evaluate `measure` (a JS expression returning JSON-able
    data) and write a `width`×`height` screenshot to `screenshot`."""
    assert CHROMIUM, "chromium is not installed"
    profile = Path(tempfile.mkdtemp(prefix="chromium-"))
    proc = subprocess.Popen([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--disable-background-networking", "--disable-component-update", "--disable-sync",
                             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                             f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port, browser_path = port_file.read_text().splitlines()[:2]
        browser = _Cdp(f"ws://127.0.0.1:{port}{browser_path}")
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        tab = _Cdp(f"ws://127.0.0.1:{port}/devtools/page/{target}")
        for domain in ("Page", "Runtime", "Log", "Network"):
            tab.call(f"{domain}.enable")
        tab.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        tab.call("Page.navigate", url=page.resolve().as_uri())
        tab.wait_for("Page.loadEventFired")
        run = PageRun()
        run.facts = tab.call("Runtime.evaluate", expression=measure, returnByValue=True)["result"].get("value") or {}
        shot = tab.call("Page.captureScreenshot", format="png",
                        clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        for e in tab.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                run.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif e.get("method") == "Runtime.exceptionThrown":
                run.console_errors.append(p.get("exceptionDetails", {}).get("text", "exception"))
            elif e.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                run.console_errors.append(p["entry"].get("text", ""))
            elif e.get("method") == "Network.requestWillBeSent":
                run.requests.append(p.get("request", {}).get("url", ""))
        return run
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)
