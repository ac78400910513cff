"""Headless Chromium driven over the DevTools protocol through a pipe (no websocket, no Playwright
browser download): load a page offline, then report its console errors, network requests and what
it rendered."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")

# Flags that keep the browser from reaching the network on its own (updates, safe browsing, ...).
FLAGS = [
    "--headless=new",
    "--no-sandbox",  # CI containers run as root, where the sandbox refuses to start
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--mute-audio",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]

# What a report page rendered, grouped by <h2 id=...> section: figures (images, Plotly divs) and
# tables, each with whether it actually drew.
INSPECT_JS = """
(async () => {
  await Promise.all([...document.images].map((i) => i.decode().catch(() => null)));
  const sections = [];
  let cur = null;
  for (const el of document.body.children) {
    if (el.tagName === "H2") {
      cur = {id: el.id, title: el.textContent.trim(), figures: [], tables: [], notes: []};
      sections.push(cur);
      continue;
    }
    if (!cur) continue;
    for (const n of [el, ...el.querySelectorAll("*")]) {
      const box = n.getBoundingClientRect();
      if (n.tagName === "IMG") {
        cur.figures.push({kind: "img", name: n.alt, drawn: n.complete && n.naturalWidth > 0,
                          width: box.width, height: box.height});
      } else if (n.classList.contains("js-plotly-plot")) {
        cur.figures.push({kind: "plotly", name: n.id,
                          drawn: n.querySelector("svg.main-svg, canvas") !== null,
                          width: box.width, height: box.height});
      } else if (n.tagName === "TABLE") {
        cur.tables.push({rows: n.rows.length - 1, width: box.width, height: box.height});
      } else if (n.classList.contains("note")) {
        cur.notes.push(n.textContent.trim());
      }
    }
  }
  return {title: document.title, sections,
          pageWidth: document.documentElement.scrollWidth, viewWidth: window.innerWidth};
})()
"""


class BrowserError(RuntimeError):
    """Chromium failed to start or answer, or a DevTools command returned an error."""


def find_chromium() -> str | None:
    """The Chromium binary: $CHROMIUM, else the first of the usual names on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


@dataclass
class PageLoad:
    """What loading one page produced."""

    errors: list[str] = field(default_factory=list)  # console errors, exceptions, error logs
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    layout: dict[str, Any] = field(default_factory=dict)  # INSPECT_JS's answer


class Chromium:
    """One headless browser; `load` opens each page in a fresh tab."""

    def __init__(self, exe: str, profile: Path, timeout: float = 60.0) -> None:
        self.timeout = timeout
        cmd_r, self._cmd_w = os.pipe()
        self._resp_r, resp_w = os.pipe()

        def wire_fds() -> None:  # the protocol pipe is fd 3 (commands in) and fd 4 (answers out)
            a, b = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(resp_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self._log = (profile / "chromium.log").open("wb")
        self.proc = subprocess.Popen(
            [exe, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=wire_fds,
            close_fds=False,  # Python's own fds are non-inheritable; 3 and 4 must survive exec
        )
        os.close(cmd_r)
        os.close(resp_w)
        self._buf = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._resp_r], [], [], left)[0]:
                raise BrowserError(f"no answer from Chromium within {self.timeout:.0f} s")
            chunk = os.read(self._resp_r, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium exited (code {self.proc.poll()}); see its log")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Run one DevTools command and return its result (events seen meanwhile are kept)."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def _wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not any(e["method"] == method for e in self._events if e.get("sessionId") == session):
            self._events.append(self._read_message(deadline))

    def load(self, url: str, width: int = 1300, height: int = 900) -> PageLoad:
        """Open `url` with the network switched off, wait for its load event, inspect it."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        sid = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.send(f"{domain}.enable", session=sid)
        offline = {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0}
        self.send("Network.emulateNetworkConditions", offline, session=sid)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=sid,
        )
        self._events = [e for e in self._events if e.get("sessionId") != sid]
        self.send("Page.navigate", {"url": url}, session=sid)
        self._wait_for("Page.loadEventFired", sid)
        found = self.send(
            "Runtime.evaluate",
            {"expression": INSPECT_JS, "awaitPromise": True, "returnByValue": True},
            session=sid,
        )
        if "exceptionDetails" in found:
            raise BrowserError(f"inspecting {url}: {found['exceptionDetails']}")
        page = PageLoad(layout=found["result"]["value"])
        for event in (e for e in self._events if e.get("sessionId") == sid):
            page_event(page, event["method"], event.get("params", {}))
        self.send("Target.closeTarget", {"targetId": target})
        return page

    def close(self) -> None:
        """Ask the browser to quit; kill it if it does not."""
        with contextlib.suppress(BrowserError, OSError):  # already gone: nothing to ask
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._cmd_w, self._resp_r):
            os.close(fd)
        self._log.close()


def page_event(page: PageLoad, method: str, params: dict[str, Any]) -> None:
    """Sort one DevTools event into the page's errors and requests."""
    if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
        text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
        page.errors.append(f"console.{params['type']}: {text}")
    elif method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        text = details.get("exception", {}).get("description") or details.get("text", "")
        page.errors.append(f"uncaught exception: {text}")
    elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
        entry = params["entry"]
        page.errors.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}".strip())
    elif method == "Network.requestWillBeSent":
        page.requests.append(params["request"]["url"])
    elif method == "Network.loadingFailed" and not params.get("canceled"):
        page.errors.append(f"network: {params.get('errorText')} ({params['type']})")
