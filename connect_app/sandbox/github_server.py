"""Serve a WSGI app over real HTTP on loopback in a background thread (private to the GitHub
simulator, so it does not depend on the shared sandbox server helper)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class LoopbackServer:
    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # Werkzeug logs every request at INFO; a simulator should stay quiet in test output.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(self._host, self._port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="github-simulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"
