"""Chart repositories on loopback for the tests: a folder served over HTTP (a threaded http.server
that records every request), and Debian's `docker-registry` (the CNCF distribution registry) as a
real OCI registry. Fixtures using them are in conftest.py (`chart_server`, `chart_mirror`,
`chart_cache`, `oci_registry`)."""

from __future__ import annotations

import functools
import shutil
import socket
import subprocess
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx


class ChartServer:
    """`folder` served at `url` (http://127.0.0.1:PORT) until `close()`; `requests` lists the path
    of every request received, in order. `status` answers every request with that HTTP status
    instead (a repository that wants credentials, one that fails)."""

    def __init__(self, folder: Path, status: int | None = None):
        self.folder = folder
        self.requests: list[str] = []
        lock = threading.Lock()
        seen = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                with lock:
                    seen.append(self.path)
                if status is not None:
                    self.send_error(status)
                    return
                super().do_GET()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="chart-server", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """Debian's `docker-registry` on 127.0.0.1 with its storage in `folder`; `host` is HOST:PORT.
    Raises RuntimeError (with the registry's own words) when it cannot be started."""

    def __init__(self, folder: Path):
        exe = shutil.which("docker-registry")
        if exe is None:
            raise RuntimeError("Debian's docker-registry is not installed (apt-get install docker-registry; "
                               "scripts/setup-test-env installs it when run as root)")
        port = free_port()
        self.host = f"127.0.0.1:{port}"
        self.storage = folder / "storage"
        config = folder / "config.yml"
        config.write_text(f"version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\n"
                          f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
                          f"http:\n  addr: {self.host}\n  secret: homelab-tests-only\n", encoding="utf-8")
        self.log = folder / "registry.log"
        self._log = self.log.open("wb")
        self._proc = subprocess.Popen([exe, "serve", str(config)], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"docker-registry exited ({self._proc.returncode}): "
                                   f"{self.log.read_text(errors='replace')[-800:]}")
            try:
                if httpx.get(f"http://{self.host}/v2/", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.close()
        raise RuntimeError(f"docker-registry did not answer on {self.host} within 15 s")

    def requests(self) -> list[str]:
        """The request lines of the registry's access log so far (`GET /v2/...`)."""
        self._log.flush()
        return [line.split('"')[1] for line in self.log.read_text(errors="replace").splitlines()
                if line.count('"') >= 2 and line.split('"')[1].split(" ")[0] in ("GET", "HEAD", "PUT", "POST", "PATCH")]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._log.close()
