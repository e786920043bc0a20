"""Serve a WSGI app over real HTTP on 127.0.0.1 in a background thread."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server


class ServedApp:
    """A WSGI app listening on a free loopback port until `stop()`.

    Threaded, so a slow or re-entrant request (the simulator calling the app while the app
    calls the simulator) never deadlocks the server.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("server not started")
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> ServedApp:
        if self._server is not None:
            return self
        self._server = make_server(self._host, self._port, self._app, threaded=True)
        self._thread = threading.Thread(target=self._serve, name=f"served-app-{self._server.server_port}", daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        assert self._server is not None
        # A short poll keeps stop() quick; tests start and stop servers many times.
        self._server.serve_forever(poll_interval=0.05)

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 0) -> ServedApp:
    """Start serving `app` and return the handle; `handle.url` is its base URL."""
    return ServedApp(app, host=host, port=port).start()
