"""The one place outgoing HTTP is checked: every request the app sends to a repository API or to
Jira goes through a `GuardedSession`, which at send time (pagination and redirects included)

- refuses any destination outside the allow-list it was built with,
- refuses to carry credentials (an `Authorization` header) to any origin but the one the
  connection names (`credential_origin`), so a URL found in an answer never receives a token,
- reads each answer under a wall-clock budget and a size cap, so a server that drips an answer
  byte by byte or sends an endless body cannot hold a worker or fill its memory.

Environment proxies and `.netrc` credentials are ignored (`trust_env = False`): what is sent and
where it goes depend on the app's settings only.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import requests
import urllib3

from connect_app.connect.urls import OriginPattern, normalise_origin

# Per answer: how long reading it may take in all (connect, headers, body), and how big it may be.
DEFAULT_DEADLINE = 60.0
DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT = (5.0, 15.0)
MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
# Headers that carry a credential: `Authorization`, and GitLab's `PRIVATE-TOKEN`, which requests
# (unlike `Authorization`) would otherwise keep on a redirect to another host.
CREDENTIAL_HEADERS = ("Authorization", "PRIVATE-TOKEN")


class Refused(requests.RequestException):
    """A request the allow-list or the credential rule does not permit; nothing was sent."""


class AnswerTooLarge(requests.RequestException):
    """The answer was larger than the session's size cap; the connection was dropped."""


class AnswerTooSlow(requests.Timeout):
    """The answer did not arrive in full within the session's wall-clock budget."""


def origin_of(url: str) -> str | None:
    try:
        return normalise_origin(url.split("?", 1)[0].split("#", 1)[0])
    except ValueError:
        return None


class GuardedSession(requests.Session):
    def __init__(self, allowed: Sequence[OriginPattern], *, credential_origin: str | None = None,
                 deadline: float = DEFAULT_DEADLINE, max_bytes: int = DEFAULT_MAX_BYTES,
                 timeout: float | tuple[float, float] = DEFAULT_TIMEOUT) -> None:
        super().__init__()
        self.allowed = tuple(allowed)
        # None: credentials may go to any allowed origin (a client above checks its own tenant's).
        self.credential_origin = origin_of(credential_origin) if credential_origin else None
        if credential_origin and self.credential_origin is None:
            raise Refused(f"{credential_origin} is not a plain http(s) URL")
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.trust_env = False
        self.max_redirects = MAX_REDIRECTS

    def check(self, url: str, *, with_credentials: bool) -> str:
        """The destination's origin, or Refused when it may not be contacted (with credentials)."""
        origin = origin_of(url)
        if origin is None or not any(pattern.matches(origin) for pattern in self.allowed):
            shown = origin or url[:200]
            if with_credentials:
                raise Refused(f"refused to send credentials to {shown}: not in the allow-list")
            raise Refused(f"refused to send a request to {shown}: not in the allow-list")
        if with_credentials and self.credential_origin is not None and origin != self.credential_origin:
            raise Refused(f"refused to send credentials to {origin}: only {self.credential_origin} receives them")
        return origin

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.check(request.url or "", with_credentials=any(h in request.headers for h in CREDENTIAL_HEADERS))
        caller_streams = bool(kwargs.pop("stream", False))
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        started = time.monotonic()
        # Redirects come back through this method, so each hop is checked too; the body is read
        # here, once, on the final answer.
        response = super().send(request, stream=True, **kwargs)
        if not caller_streams:
            self._read(response, started + self.deadline)
        return response

    def _read(self, response: requests.Response, deadline: float) -> None:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            response.close()
            raise AnswerTooLarge(f"{origin_of(response.url) or 'the server'} announced an answer of "
                                 f"{declared} bytes (at most {self.max_bytes} are read)")
        chunks: list[bytes] = []
        size = 0
        raw = response.raw
        try:
            while True:
                if time.monotonic() > deadline:
                    raise AnswerTooSlow(f"{origin_of(response.url) or 'the server'} did not answer within "
                                        f"{self.deadline:g} s")
                # read1 returns what has arrived, so a dripping answer is checked against the
                # deadline every few bytes rather than once per full chunk.
                chunk = raw.read1(_CHUNK, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_bytes:
                    raise AnswerTooLarge(f"{origin_of(response.url) or 'the server'} sent more than "
                                         f"{self.max_bytes} bytes")
                chunks.append(chunk)
        except urllib3.exceptions.HTTPError as exc:
            response.close()
            raise requests.ConnectionError(f"the answer broke off: {exc}") from exc
        except BaseException:
            response.close()
            raise
        response._content = b"".join(chunks)
        response._content_consumed = True
        raw.release_conn()  # read in full: the connection goes back to the pool
